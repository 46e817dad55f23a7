"""The demo the project's demo script runs: rotate, re-encrypt, verify, retire on SQLite."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fernet_demo.py"
_SPEC = importlib.util.spec_from_file_location("fernet_demo", _SCRIPT)
assert _SPEC is not None
assert _SPEC.loader is not None
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)
demo = _MODULE.demo


def test_demo_rotates_and_retires_with_plaintexts_unchanged(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """Each step reports success, plaintexts are identical, the log chain verifies; twice."""
    for _ in range(2):
        lines = demo(tmp_path / "demo.db", vault=vault, log=log, rows=300)
        assert any("outcome complete" in line for line in lines)
        assert any("open with the primary key alone (ok)" in line for line in lines)
        assert any("removed 1 old key(s)" in line for line in lines)
        assert lines[-1].endswith("identical")
    doc = vault.read()
    assert "FERNET_FALLBACK_KEYS" not in doc
    assert log.verify(doc[META_KEY]["audit"]).ok
    text = "\n".join(lines) + log.path.read_text()
    assert doc["FERNET_KEY"] not in text
