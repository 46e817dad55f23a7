# ruff: noqa: RUF012  (Django reads these class attributes: the migration format)
from __future__ import annotations

from django.db import migrations

import erp.integrations.django.fields


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="profile",
            field=erp.integrations.django.fields.EncryptedJSONField(default=dict),
        ),
    ]
