"""The secret's value: one JSON object holding the JWT key ring under the runbook's names.

``JWT_SECRETS`` (key id -> secret), ``JWT_SECRET_ID`` (the signing key) and ``JWT_KEYS``
(state and times, no secrets), exactly as in the vault file, plus ``_erp`` bookkeeping
(``format``; ``derived_from``, the version a rotation started from). Other top-level names
are kept as they are, so the secret can hold more than the ring for ``get_secret``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from erp.aws.errors import SecretFormatError
from erp.errors import KeyRingError, WeakSecret

# The JWT_SECRETS/JWT_SECRET_ID/JWT_KEYS format has one owner, the JWT feature's codec.
from erp.jwt.codec import ring_from_document, store_ring
from erp.jwt.keyring import Key, KeyRing, KeyState

__all__ = [
    "META",
    "RING_NAMES",
    "KeyView",
    "SecretDocument",
    "describe_keys",
    "encode",
    "is_placeholder",
    "key_views",
    "merged_ring",
    "parse_document",
    "parse_version",
    "ring_document",
]

META = "_erp"
RING_NAMES = ("JWT_SECRETS", "JWT_SECRET_ID", "JWT_KEYS")
_FORMAT = 1
_FIX = "push a valid key ring with 'erp-secrets aws push'"


@dataclass(frozen=True)
class SecretDocument:
    """One parsed and validated version of the secret; immutable, as AWS versions are."""

    version_id: str
    document: Mapping[str, Any] = field(repr=False)
    ring: KeyRing | None = field(repr=False)
    texts: Mapping[str, str] = field(init=False, repr=False, compare=False)
    """Every entry as ``get_secret`` returns it: text, or JSON for objects (computed once)."""

    def __post_init__(self) -> None:
        texts = {
            name: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            for name, value in self.document.items()
            if value is not None
        }
        object.__setattr__(self, "texts", texts)

    def text(self, name: str) -> str | None:
        """The entry ``name`` as text (JSON for objects), or ``None`` when absent."""
        return self.texts.get(name)

    @property
    def derived_from(self) -> str | None:
        """The version id this one was rotated from, when a rotation wrote it."""
        meta = self.document.get(META)
        value = meta.get("derived_from") if isinstance(meta, Mapping) else None
        return value if isinstance(value, str) else None

    def require_ring(self, where: str) -> KeyRing:
        """The key ring, or :class:`SecretFormatError` naming what is missing."""
        if self.ring is None or not self.ring.keys:
            raise SecretFormatError(
                f"{where} holds no JWT key ring: it lacks {' and '.join(RING_NAMES[:2])}; {_FIX}"
            )
        return self.ring


def encode(doc: Mapping[str, Any]) -> str:
    """The canonical JSON text stored in the secret (sorted keys, compact)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def is_placeholder(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` is the empty-version marker that earlier drivers wrote (read as empty)."""
    meta = doc.get(META)
    return isinstance(meta, Mapping) and meta.get("placeholder") is True


def parse_document(text: object, where: str) -> dict[str, Any]:
    """The JSON object stored in the secret, or :class:`SecretFormatError` (never the text)."""
    if not isinstance(text, str):
        raise SecretFormatError(f"{where} has no SecretString (binary or empty value); {_FIX}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SecretFormatError(
            f"{where} is not valid JSON ({exc.msg} at position {exc.pos}); {_FIX}"
        ) from None
    if not isinstance(value, dict):
        raise SecretFormatError(
            f"{where} must be a JSON object, not a {type(value).__name__}; {_FIX}"
        )
    return value


def parse_version(text: object, version_id: str, where: str) -> SecretDocument | None:
    """Parse and validate one version; ``None`` for the empty-version placeholder.

    A ring, when present, must be complete and strong: a bad ring raises
    :class:`SecretFormatError` naming the entry, so a cache keeps its last good version.
    """
    doc = parse_document(text, where)
    if is_placeholder(doc):
        return None
    ring: KeyRing | None = None
    if any(name in doc for name in RING_NAMES):
        for name, kind in (("JWT_SECRETS", dict), ("JWT_KEYS", dict), ("JWT_SECRET_ID", str)):
            if name in doc and doc[name] is not None and not isinstance(doc[name], kind):
                raise SecretFormatError(
                    f"{where}: {name} must be a JSON {'object' if kind is dict else 'string'}, "
                    f"not a {type(doc[name]).__name__}; {_FIX}"
                )
        if not doc.get("JWT_SECRETS"):
            raise SecretFormatError(f"{where}: JWT_SECRETS is missing or empty; {_FIX}")
        try:
            ring = ring_from_document(doc, where)
        except (KeyRingError, WeakSecret) as exc:
            raise SecretFormatError(f"{exc}; {_FIX}") from None
    return SecretDocument(version_id, doc, ring)


def ring_document(
    ring: KeyRing, *, base: Mapping[str, Any] | None = None, derived_from: str | None = None
) -> dict[str, Any]:
    """The document storing ``ring``, keeping ``base``'s other entries."""
    doc = {k: v for k, v in (base or {}).items() if k not in RING_NAMES and k != META}
    store_ring(doc, ring)
    meta: dict[str, Any] = {"format": _FORMAT}
    if derived_from is not None:
        meta["derived_from"] = derived_from
    doc[META] = meta
    return doc


def merged_ring(
    current: KeyRing, *, pending: KeyRing | None = None, previous: KeyRing | None = None
) -> KeyRing:
    """The verification ring during a rotation: CURRENT's keys, then PENDING's, PREVIOUS's.

    CURRENT's active key still signs. Keys only PENDING holds join as ``staged`` (verify
    only); keys only PREVIOUS holds join as ``retiring``. An id CURRENT already has keeps
    CURRENT's secret.
    """
    keys: list[Key] = list(current.keys)
    seen = {k.id for k in keys}
    for ring, state in ((pending, KeyState.STAGED), (previous, KeyState.RETIRING)):
        if ring is None:
            continue
        for key in ring.keys:
            if key.id not in seen:
                seen.add(key.id)
                keys.append(key if key.state is state else key.replace(state=state))
    if len(keys) == len(current.keys):
        return current
    return KeyRing(tuple(keys))


@dataclass(frozen=True)
class KeyView:
    """What may be shown of a key: id, state, algorithm and fingerprint, never the secret."""

    id: str
    state: str
    fingerprint: str
    alg: str = "HS256"

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "state": self.state,
            "alg": self.alg,
            "fingerprint": self.fingerprint,
        }


def key_views(ring: KeyRing | None) -> tuple[KeyView, ...]:
    """The ring's keys as :class:`KeyView` (empty for no ring)."""
    if ring is None:
        return ()
    return tuple(KeyView(k.id, k.state.value, k.fingerprint, k.alg) for k in ring.keys)


def describe_keys(ring: KeyRing | None) -> list[dict[str, str]]:
    """Key ids, states, algorithms and fingerprints as JSON objects: safe to log and print."""
    return [view.as_dict() for view in key_views(ring)]
