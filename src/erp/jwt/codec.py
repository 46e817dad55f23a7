"""The one owner of the runbook's JWT format: ``JWT_SECRETS``, ``JWT_SECRET_ID``, ``JWT_KEYS``.

The same three names appear in the vault file, in environment variables and in the AWS
secret's JSON document. This module alone reads and writes them:

* ``JWT_SECRETS``: a JSON object, key id -> stored secret (text, or ``b64:`` binary);
* ``JWT_SECRET_ID``: the id of the signing key;
* ``JWT_KEYS``: key id -> ``state`` and ISO 8601 times (never a secret), optional.

Every other top-level name of a document is left alone. Errors name the source and the
position, never a value that could be a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from erp._json import JsonProblem, loads_object
from erp.errors import KeyRingError
from erp.jwt.keyring import KeyRing, shown_id
from erp.store.vault import register_entry_check

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ACTIVE_ID",
    "KEYS",
    "RING_NAMES",
    "SECRETS",
    "document_from_ring",
    "format_problem",
    "ring_from_document",
    "ring_from_json_text",
    "store_ring",
]

SECRETS = "JWT_SECRETS"
ACTIVE_ID = "JWT_SECRET_ID"
KEYS = "JWT_KEYS"
RING_NAMES = (SECRETS, ACTIVE_ID, KEYS)


def format_problem(doc: Mapping[str, Any]) -> str | None:
    """What is wrong with the shape of the ring entries of ``doc``, or ``None`` if fine.

    Checks types only (strength and consistency are :meth:`KeyRing.from_maps`'s job), so a
    store can refuse a malformed file before it is used or overwritten.
    """
    secrets_map = doc.get(SECRETS)
    if secrets_map is not None:
        if not isinstance(secrets_map, dict):
            return f"{SECRETS} must be a JSON object of key id -> secret"
        for key_id, value in secrets_map.items():
            if not isinstance(value, str):
                return f"{SECRETS}[{shown_id(key_id)}] must be a string"
    active = doc.get(ACTIVE_ID)
    if active is not None and not isinstance(active, str):
        return f"{ACTIVE_ID} must be a string"
    keys = doc.get(KEYS)
    if keys is not None and not isinstance(keys, dict):
        return f"{KEYS} must be a JSON object"
    return None


def ring_from_document(doc: Mapping[str, Any], source: str = "vault file") -> KeyRing:
    """The key ring stored in a document (empty if it holds none).

    Raises :class:`~erp.errors.KeyRingError` or :class:`~erp.errors.WeakSecret` naming
    ``source``.
    """
    problem = format_problem(doc)
    if problem is not None:
        raise KeyRingError(f"{problem} (in {source})")
    secrets_map = doc.get(SECRETS) or {}
    active = doc.get(ACTIVE_ID)
    if not secrets_map and active is None:
        return KeyRing()
    return KeyRing.from_maps(
        secrets_map, active, doc.get(KEYS) or {}, source=f"{SECRETS} in {source}"
    )


def store_ring(doc: dict[str, Any], ring: KeyRing) -> None:
    """Write ``ring`` into ``doc`` in place under the runbook's names (removed when empty)."""
    if not ring.keys:
        for name in RING_NAMES:
            doc.pop(name, None)
        return
    # assigned in place, so an existing document keeps its order of entries
    doc[SECRETS] = ring.secrets_map()
    doc[ACTIVE_ID] = ring.active.id
    doc[KEYS] = ring.metadata_map()


def document_from_ring(ring: KeyRing, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A new document holding ``ring``, with ``base``'s other entries kept."""
    doc = {k: v for k, v in (base or {}).items() if k not in RING_NAMES}
    store_ring(doc, ring)
    return doc


def ring_from_json_text(
    text: str,
    active_id: str | None,
    metadata: Mapping[str, Any] | None = None,
    *,
    source: str,
    error: Callable[[str], Exception] = KeyRingError,
) -> KeyRing:
    """A ring from ``JWT_SECRETS`` given as JSON text (an environment variable, a secret).

    ``error`` builds the exception for text that is not a JSON object (its message names
    ``source`` and the position, never the text).
    """
    try:
        secrets_map = loads_object(text)
    except JsonProblem as exc:
        if exc.type_name is not None:
            raise error(
                f"{source} must be a JSON object of key id -> secret, not a {exc.type_name}"
            ) from None
        raise error(
            f'{source} is {exc}; it must be an object such as {{"<key id>": "<secret>"}}'
        ) from None
    meta = metadata if isinstance(metadata, Mapping) else {}
    return KeyRing.from_maps(secrets_map, active_id, meta, source=source)


register_entry_check(format_problem)  # the vault refuses a malformed ring before using it
