"""Re-encrypt stored Fernet values under the primary key, verify, and retire old keys.

``reencrypt`` streams primary-key ranges, rewrites each value with ``MultiFernet.rotate``
semantics (original timestamp kept) using compare-and-swap updates, checkpoints in the
database itself and resumes after a kill; ``verify_and_record`` proves every value opens
with the primary alone; ``retire`` removes old keys only on the same database state.

The names below load on first use: a worker process imports only the hot path
(:mod:`~erp.fernet.reencrypt.worker`), not the coordinator, verify and retire, so it starts
working sooner.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from erp._lazy import lazy_exports

if TYPE_CHECKING:
    from erp.fernet.errors import DatabaseNotFound, DatabaseUnavailable, TargetNotFound, WrongKeys
    from erp.fernet.reencrypt.progress import (
        PlainReporter,
        Reporter,
        SilentReporter,
        make_reporter,
    )
    from erp.fernet.reencrypt.retire import retire, verify_and_record
    from erp.fernet.reencrypt.runner import DEFAULT_BATCH_SIZE, ReencryptReport, reencrypt
    from erp.fernet.reencrypt.targets import (
        DatabaseRef,
        columns_from_config,
        columns_from_metadata,
        parse_column,
    )
    from erp.fernet.reencrypt.verify import VerificationReport, database_digest, verify_database

_HOMES = {
    "DEFAULT_BATCH_SIZE": "erp.fernet.reencrypt.runner",
    "DatabaseNotFound": "erp.fernet.errors",
    "DatabaseRef": "erp.fernet.reencrypt.targets",
    "DatabaseUnavailable": "erp.fernet.errors",
    "PlainReporter": "erp.fernet.reencrypt.progress",
    "ReencryptReport": "erp.fernet.reencrypt.runner",
    "Reporter": "erp.fernet.reencrypt.progress",
    "SilentReporter": "erp.fernet.reencrypt.progress",
    "TargetNotFound": "erp.fernet.errors",
    "VerificationReport": "erp.fernet.reencrypt.verify",
    "WrongKeys": "erp.fernet.errors",
    "columns_from_config": "erp.fernet.reencrypt.targets",
    "columns_from_metadata": "erp.fernet.reencrypt.targets",
    "database_digest": "erp.fernet.reencrypt.verify",
    "make_reporter": "erp.fernet.reencrypt.progress",
    "parse_column": "erp.fernet.reencrypt.targets",
    "reencrypt": "erp.fernet.reencrypt.runner",
    "retire": "erp.fernet.reencrypt.retire",
    "verify_and_record": "erp.fernet.reencrypt.retire",
    "verify_database": "erp.fernet.reencrypt.verify",
}

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DatabaseNotFound",
    "DatabaseRef",
    "DatabaseUnavailable",
    "PlainReporter",
    "ReencryptReport",
    "Reporter",
    "SilentReporter",
    "TargetNotFound",
    "VerificationReport",
    "WrongKeys",
    "columns_from_config",
    "columns_from_metadata",
    "database_digest",
    "make_reporter",
    "parse_column",
    "reencrypt",
    "retire",
    "verify_and_record",
    "verify_database",
]


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule ``retire`` binds it here by name, over the function of the
        # same name; keep the function, as an eager ``from .retire import retire`` would.
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__ = lazy_exports(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
