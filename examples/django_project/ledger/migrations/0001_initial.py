# ruff: noqa: RUF012  (Django reads these class attributes: the migration format)
from __future__ import annotations

from django.db import migrations, models

import erp.integrations.django.fields


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("ssn", erp.integrations.django.fields.EncryptedTextField()),
            ],
        ),
    ]
