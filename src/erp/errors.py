"""The exceptions of ``erp``: one base, one subclass per failure a caller can act on.

Three branches, by what the caller should do:

* :class:`ConfigError`: the setup is bad (a file, a variable, a policy); fix it, then retry;
* :class:`InputError`: this input is bad (reject the token, report the row); nothing to fix here;
* :class:`TransientError`: something outside was busy or unreachable; the same call may succeed
  later (retry with backoff).

Every exception of ``erp`` derives from exactly one of them. No exception ever carries secret
material: they name ids, paths, variables and fixes.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "AuditChainBroken",
    "ConcurrentChange",
    "ConfigError",
    "ErpError",
    "FileReadError",
    "FileWriteError",
    "InputError",
    "InvalidToken",
    "KeyRingError",
    "LogWriteError",
    "PolicyViolation",
    "SecretNotFound",
    "SettingError",
    "TokenExpired",
    "TransientError",
    "UnknownKeyId",
    "VaultCorrupt",
    "VaultWriteError",
    "WeakSecret",
]


def _as_path(path: Path | str) -> Path:
    # pathlib is imported only when an error is raised: it is not on the rotation script's
    # start-up path
    from pathlib import Path

    return Path(path)


class ErpError(Exception):
    """Base class of every error raised by ``erp``."""


class ConfigError(ErpError):
    """The setup is wrong: a file, an environment variable or a policy needs fixing."""


class InputError(ErpError):
    """The input is wrong: a token or a stored value must be rejected or reported."""


class TransientError(ErpError):
    """Something outside was busy or unreachable (a lock, a service); retrying may succeed."""


class FileReadError(ConfigError):
    """A file ``erp`` must read is not a readable regular file of sane size; nothing changed."""

    def __init__(self, path: Path | str, what: str, problem: str) -> None:
        self.path = _as_path(path)
        self.what = what
        self.problem = problem
        super().__init__(
            f"cannot read {what} {self.path}: {problem}. "
            "Point the setting at a regular file (or fix its permissions), then retry."
        )


class FileWriteError(ConfigError):
    """A file could not be written (read-only folder, full disk, a link); the old one is intact."""

    def __init__(self, path: Path | str, what: str, problem: str) -> None:
        self.path = _as_path(path)
        self.what = what
        self.problem = problem
        super().__init__(
            f"could not write {what} {self.path}: {problem}. "
            "The previous file is unchanged; free space or fix permissions, then retry."
        )


class SettingError(ConfigError):
    """An environment setting is malformed or out of range; names the variable and the fix."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"environment variable {variable} {problem}; {fix}")


class SecretNotFound(ConfigError, KeyError):
    """A named secret is in none of the places ``get_secret`` looked."""

    def __init__(self, name: str, looked_in: list[str]) -> None:
        self.name = name
        self.looked_in = list(looked_in)
        where = "; ".join(looked_in) if looked_in else "nowhere (no source configured)"
        super().__init__(
            f"secret {name!r} not found; looked in: {where}. "
            f"Set the environment variable {name} or add {name!r} to the vault file."
        )

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class VaultCorrupt(ConfigError):
    """The vault file exists but cannot be used; it is left untouched."""

    def __init__(
        self,
        path: Path | str,
        problem: str,
        fix: str = "restore it from backup or fix it by hand",
    ) -> None:
        self.path = _as_path(path)
        self.problem = problem
        super().__init__(
            f"vault file {self.path} is unusable: {problem}. It was not modified; {fix}, "
            "then retry."
        )


class VaultMissing(ConfigError):
    """The vault file named does not exist where a rotation log says one should; nothing
    was written (a new vault would fork another vault's log)."""


class VaultWriteError(ConfigError):
    """The vault file could not be written (read-only folder, full disk, ...); nothing changed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = _as_path(path)
        self.problem = problem
        super().__init__(
            f"could not write vault file {self.path}: {problem}. "
            "The previous file is unchanged; free space or fix permissions, then retry."
        )


class LogWriteError(ConfigError):
    """The rotation log could not be written; says whether the vault change went through."""

    def __init__(self, path: Path | str, problem: str, *, committed: bool = False) -> None:
        self.path = _as_path(path)
        self.problem = problem
        self.committed = committed
        outcome = (
            "The change is committed in the vault file; once this is fixed, "
            "'erp-secrets audit repair' (or the next rotation) appends its log entry."
            if committed
            else "Nothing was changed; free space or fix permissions, then retry."
        )
        super().__init__(f"could not write rotation log {self.path}: {problem}. {outcome}")


class KeyRingError(ConfigError):
    """A key ring is inconsistent: no active key, an active id naming no key, a bad map."""


class WeakSecret(ConfigError):
    """A secret is too short or too predictable to sign or encrypt with."""


class PolicyViolation(ConfigError):
    """An operation is refused because the rotation policy forbids it now."""


class ConcurrentChange(TransientError):
    """Another process changed the store between read and write; retry the operation."""


class AuditChainBroken(ConfigError):
    """The rotation log's hash chain does not verify; the log was edited or cut."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = _as_path(path)
        self.problems = list(problems)
        first = problems[0] if problems else "unknown problem"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"rotation log {self.path} fails verification: {first}{more}. "
            "Run 'erp-secrets audit verify' for the full report; restore the log from backup."
        )


class InvalidToken(InputError):
    """A token was rejected: bad signature, bad format, disallowed algorithm, missing claim."""


class TokenExpired(InvalidToken):
    """A token's ``exp`` is in the past (beyond the leeway)."""


class UnknownKeyId(InvalidToken):
    """A token names a key id (``kid``) that no loaded key ring holds, even after a reload."""

    def __init__(self, kid: str | None) -> None:
        self.kid = kid
        shown = "no kid header" if kid is None else f"kid {kid[:64]!r}"
        super().__init__(f"token signed with an unknown key ({shown}); it was pruned or never ours")
