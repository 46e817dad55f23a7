"""Every exception ``erp.fernet`` raises, in one place, each in exactly one branch of
:mod:`erp.errors`: bad setup (:class:`~erp.errors.ConfigError`), bad input
(:class:`~erp.errors.InputError`) or try again (:class:`~erp.errors.TransientError`).

Messages name keys by fingerprint, databases without their password and rows by primary
key; they never hold a key, a token or a plaintext.
"""

from __future__ import annotations

from erp.errors import (
    ConfigError,
    InputError,
    InvalidToken,
    PolicyViolation,
    TokenExpired,
    TransientError,
)

__all__ = [
    "ColumnsError",
    "DatabaseNotFound",
    "DatabaseUnavailable",
    "DatabaseUrlError",
    "FernetKeyError",
    "FernetTokenExpired",
    "KeyAlreadyInRing",
    "NoKeyOpens",
    "NotText",
    "RetireRefused",
    "TargetNotFound",
    "TimestampInFuture",
    "WorkerFailed",
    "WrongKeys",
]

# -- setup: fix it, then retry -------------------------------------------------------------


class FernetKeyError(ConfigError):
    """``FERNET_KEY`` or ``FERNET_FALLBACK_KEYS`` is missing or not a valid Fernet key."""


class KeyAlreadyInRing(ConfigError):
    """A rotation to a key the ring already holds: it would retire nothing."""


class DatabaseUrlError(ConfigError):
    """``--db`` names no database re-encryption can work on (another engine, in-memory)."""


class ColumnsError(ConfigError):
    """The encrypted columns are not named, or named wrongly (option, file or metadata)."""


class DatabaseNotFound(ConfigError):
    """The database named by ``--db`` does not exist (a SQLite file is never created)."""


class TargetNotFound(ConfigError):
    """A table or column to re-encrypt does not exist, or has no usable primary key."""


class WrongKeys(ConfigError):
    """No sampled value of a column opens with any configured key: the keys are wrong."""


class RetireRefused(PolicyViolation):
    """Old keys may not be removed yet: no matching verify pass proves they are unused."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "retire refused, the old keys stay in the vault: " + "; ".join(self.problems)
        )


# -- input: reject this value ----------------------------------------------------------------


class NoKeyOpens(InvalidToken):
    """A stored value opens with none of the configured Fernet keys (or is not a token)."""


class FernetTokenExpired(TokenExpired):
    """A token opened, but it is older than the ``ttl`` the caller asked for."""


class TimestampInFuture(InvalidToken):
    """A token's timestamp lies further ahead of the clock than the allowed skew (60 s)."""


class NotText(InputError):
    """The value opened, but its plaintext is not UTF-8 text: use the bytes API."""


# -- transient: retry (a rerun resumes) --------------------------------------------------------


class DatabaseUnavailable(TransientError):
    """The database could not be reached, or the connection broke mid-run; rerun to resume."""


class DatabasePermission(ConfigError):
    """The database user may not do what re-encryption needs (write the column, create or
    write the checkpoint tables), or a SQLite file is read-only; nothing half-done is kept."""


class WorkerFailed(TransientError):
    """A re-encryption worker process failed; finished ranges are kept, rerun to resume."""
