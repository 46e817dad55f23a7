"""The package imports cheaply and exposes its public API."""

from __future__ import annotations

import subprocess
import sys


def test_import_erp_does_not_import_heavy_dependencies() -> None:
    """``import erp`` and the rotation path never load boto3, SQLAlchemy, rich or PyJWT."""
    code = (
        "import sys, erp, erp.scripting; "
        "heavy = [m for m in ('boto3', 'sqlalchemy', 'rich', 'jwt', 'click') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
