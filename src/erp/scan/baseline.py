"""Read the detect-secrets baseline (``.secrets.baseline``) to suppress reviewed findings.

Both scanners share one baseline: a finding is known when its (file, type, hashed secret) is
in the baseline's ``results`` -- the identity detect-secrets uses, so line moves do not matter.
The hash is detect-secrets' (SHA-1 of the secret's UTF-8 text).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from erp.errors import ConfigError

__all__ = ["DEFAULT_BASELINE", "Baseline", "BaselineError", "hash_secret", "load_baseline"]

DEFAULT_BASELINE = Path(".secrets.baseline")


class BaselineError(ConfigError):
    """The baseline file cannot be read or is not a detect-secrets baseline."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(
            f"baseline {path} is unusable: {problem}. Regenerate it with "
            f"'detect-secrets scan --baseline {path}' or restore it from git."
        )


def hash_secret(value: str) -> str:
    """detect-secrets' ``hashed_secret``: SHA-1 hex of the secret (it stores nothing else)."""
    return hashlib.sha1(value.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Baseline:
    """The (file, type, hashed secret) triples a baseline marks as known."""

    path: Path | None = None
    known: frozenset[tuple[str, str, str]] = frozenset()

    def covers(self, filename: str, secret_type: str, hashed_secret: str) -> bool:
        """True if this finding was reviewed into the baseline."""
        key = (PurePosixPath(filename).as_posix(), secret_type, hashed_secret)
        return key in self.known

    def __len__(self) -> int:
        return len(self.known)


def load_baseline(path: Path) -> Baseline:
    """Read a baseline; a missing file is an empty baseline, a broken one is an error."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Baseline(path)
    except OSError as exc:
        raise BaselineError(path, exc.strerror or str(exc)) from exc
    try:
        doc: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BaselineError(path, f"not JSON (line {exc.lineno}: {exc.msg})") from exc
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, dict):
        raise BaselineError(path, "it has no 'results' object")
    known: set[tuple[str, str, str]] = set()
    for filename, entries in results.items():
        if not isinstance(entries, list):
            raise BaselineError(path, f"results for {filename!r} is not a list")
        for entry in entries:
            try:
                known.add((str(filename), str(entry["type"]), str(entry["hashed_secret"])))
            except (KeyError, TypeError) as exc:
                raise BaselineError(
                    path, f"an entry for {filename!r} lacks 'type' or 'hashed_secret'"
                ) from exc
    return Baseline(path, frozenset(known))
