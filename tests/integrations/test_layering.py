"""The core of ``erp`` never imports the adapters or the web frameworks."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import importlib, json, pkgutil, sys
failed = []

def visit(package):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name == "erp.integrations" or info.name.endswith(".__main__"):
            continue
        if info.ispkg and package.__name__ == "erp":
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:  # an optional extra missing: not what this probe is about
            failed.append(info.name)
            continue
        if info.ispkg:
            visit(module)

# the packages an application imports (the rest is held by the import-linter contracts)
for name in ("erp", "erp.jwt", "erp.fernet", "erp.store", "erp.cli"):
    visit(importlib.import_module(name))
roots = {"erp.integrations", "fastapi", "starlette", "django", "flask", "rest_framework"}
loaded = sorted(m for m in sys.modules if m in roots or m.startswith("erp.integrations."))
print(json.dumps({"loaded": loaded, "failed": failed}))
"""


def test_core_modules_import_no_adapter_and_no_framework() -> None:
    """Importing the library, its key packages and the CLI loads none of them."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
