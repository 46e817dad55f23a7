"""Whether an ``AWSPENDING`` key ring may be trusted: is it a valid successor of ``AWSCURRENT``?

Anyone allowed to call ``PutSecretValue`` can label a version ``AWSPENDING``; if every
process trusted that label, one call would make an arbitrary key verify tokens fleet-wide
with no rotation, no event and ``AWSCURRENT`` unchanged. So a pending ring counts only when
it is what one rotation step could have produced from the current ring:

* it was derived from the current version (when it says so, in ``_erp.derived_from``);
* it holds the current ring's keys with the same secrets, except retiring keys it pruned;
* it adds exactly one new key, ``active`` (immediate policy) or ``staged`` (staged policy);
* every kept key moved at most one step: ``staged -> active``, ``active -> retiring``.

:func:`successor_problem` is pure; the cache's readers ignore a pending ring it rejects.
"""

from __future__ import annotations

from erp.jwt.keyring import KeyRing, KeyState

__all__ = ["successor_problem"]

_ALLOWED = {
    (KeyState.STAGED, KeyState.STAGED),
    (KeyState.STAGED, KeyState.ACTIVE),
    (KeyState.ACTIVE, KeyState.ACTIVE),
    (KeyState.ACTIVE, KeyState.RETIRING),
    (KeyState.RETIRING, KeyState.RETIRING),
}


def successor_problem(
    current: KeyRing,
    pending: KeyRing,
    *,
    current_version: str | None = None,
    derived_from: str | None = None,
) -> str | None:
    """Why ``pending`` is not a valid successor of ``current``, or ``None`` when it is.

    The reason names key ids and states only, never a secret.
    """
    if derived_from is not None and current_version is not None and derived_from != current_version:
        return f"it was derived from version {derived_from}, not from AWSCURRENT {current_version}"
    new = [k for k in pending.keys if k.id not in current]
    if len(new) != 1:
        return (
            f"it adds {len(new)} keys ({', '.join(k.id for k in new) or 'none'}), not exactly one"
        )
    if new[0].state not in (KeyState.ACTIVE, KeyState.STAGED):
        return f"its new key {new[0].id} is {new[0].state.value}, not active or staged"
    for key in current.keys:
        successor = pending.get(key.id)
        if successor is None:
            if key.state is not KeyState.RETIRING:
                return f"it drops the {key.state.value} key {key.id}"
            continue
        if successor.secret != key.secret:
            return f"it changes the secret of key {key.id}"
        if (key.state, successor.state) not in _ALLOWED:
            return (
                f"key {key.id} goes from {key.state.value} to {successor.state.value}, "
                "which no rotation does"
            )
    active = pending.active
    if active.id != new[0].id and current.get(active.id) is None:
        return f"its active key {active.id} is unknown"
    return None
