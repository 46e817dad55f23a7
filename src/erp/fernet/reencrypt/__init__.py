"""Re-encrypt stored Fernet values under the primary key, verify, and retire old keys.

``reencrypt`` streams primary-key ranges, rewrites each value with ``MultiFernet.rotate``
semantics (original timestamp kept) using compare-and-swap updates, checkpoints in the
database itself and resumes after a kill; ``verify_and_record`` proves every value opens
with the primary alone; ``retire`` removes old keys only on the same database state.
"""

from __future__ import annotations

from erp.fernet.errors import DatabaseNotFound, DatabaseUnavailable, TargetNotFound, WrongKeys
from erp.fernet.reencrypt.progress import PlainReporter, Reporter, SilentReporter, make_reporter
from erp.fernet.reencrypt.retire import retire, verify_and_record
from erp.fernet.reencrypt.runner import DEFAULT_BATCH_SIZE, ReencryptReport, reencrypt
from erp.fernet.reencrypt.targets import (
    DatabaseRef,
    columns_from_config,
    columns_from_metadata,
    parse_column,
)
from erp.fernet.reencrypt.verify import VerificationReport, database_digest, verify_database

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
