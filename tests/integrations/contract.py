"""The promises every adapter keeps (RFC 6750 answers, no leaks), as one test class.

Subclass :class:`BearerContract` and give it a ``call`` fixture: a function that sends a GET
to the app's protected ``/me`` route with the given headers and returns an :class:`Answer`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from tests.integrations.conftest import AUDIENCE, Issue

from erp.audit import AuditLog
from erp.clock import FrozenClock
from erp.rotation.jwt import prune_keys, rotate_key
from erp.security import TokenService
from erp.vault import VaultFile


@dataclass(frozen=True)
class Answer:
    """What a client sees: status, the ``WWW-Authenticate`` header, the JSON body."""

    status: int
    challenge: str | None
    body: Any
    raw: str = ""


Call = Callable[[Mapping[str, str]], Answer]


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization`` header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}


def invalid_token(description: str) -> tuple[int, str, dict[str, str]]:
    """The (status, challenge, body) of a refused token."""
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return 401, challenge, {"detail": description}


def seen(answer: Answer) -> tuple[int, str | None, Any]:
    return answer.status, answer.challenge, answer.body


class BearerContract:
    """Each framework's adapter answers the same way (subclasses supply ``call``)."""

    @pytest.fixture
    def call(self, service: TokenService) -> Call:
        raise NotImplementedError

    def test_valid_token_reaches_the_handler_with_its_claims(
        self, call: Call, issue: Issue
    ) -> None:
        """A token from the ring gets 200 and the handler sees its subject."""
        answer = call(bearer(issue("ada")))
        assert (answer.status, answer.body) == (200, {"sub": "ada"})

    def test_missing_token_gets_401_bearer_without_error_code(self, call: Call) -> None:
        """No credentials: 401 and a bare Bearer challenge (RFC 6750 section 3.1)."""
        assert seen(call({})) == (401, "Bearer", {"detail": "bearer token required"})

    def test_other_scheme_counts_as_missing_credentials(self, call: Call) -> None:
        """Basic credentials are no bearer token: the bare challenge again."""
        assert seen(call({"Authorization": "Basic YWRhOnB3"})) == (
            401,
            "Bearer",
            {"detail": "bearer token required"},
        )

    def test_bearer_header_without_a_token_is_invalid_request(self, call: Call) -> None:
        """'Bearer' with nothing usable after it: 400 invalid_request."""
        answer = call({"Authorization": "Bearer a b"})
        assert answer.status == 400
        assert (answer.challenge or "").startswith('Bearer error="invalid_request"')

    def test_forged_signature_is_invalid_token(self, call: Call, service: TokenService) -> None:
        """Right kid, wrong secret: 401 invalid_token, signature named."""
        kid = service.ring().active.id
        forged = jwt.encode(
            {"sub": "mallory", "aud": AUDIENCE, "exp": 2**40},
            "forged-secret-forged-secret-forged-secret",
            algorithm="HS256",
            headers={"kid": kid},
        )
        assert invalid_token("token signature does not verify") == seen(call(bearer(forged)))

    def test_expired_token_is_invalid_token(
        self, call: Call, issue: Issue, clock: FrozenClock
    ) -> None:
        """A token past exp plus leeway: 401 invalid_token, 'token has expired'."""
        token = issue(ttl=timedelta(minutes=5))
        clock.advance(timedelta(minutes=6))
        assert invalid_token("token has expired") == seen(call(bearer(token)))

    def test_wrong_audience_is_invalid_token(self, call: Call, issue: Issue) -> None:
        """A token for another service is refused."""
        token = issue(aud="billing")
        assert invalid_token("token audience is not accepted") == seen(call(bearer(token)))

    def test_malformed_token_is_invalid_token(self, call: Call) -> None:
        """Not a JWT at all: 401 invalid_token."""
        answer = call(bearer("not-a-jwt"))
        assert (answer.status, _error_code(answer)) == (401, "invalid_token")

    def test_alg_none_is_invalid_token(self, call: Call, service: TokenService) -> None:
        """An unsigned token (alg none) is refused."""
        kid = service.ring().active.id
        unsigned = jwt.encode(
            {"sub": "mallory", "aud": AUDIENCE, "exp": 2**40},
            None,  # type: ignore[arg-type]  # what an attacker sends
            algorithm="none",
            headers={"kid": kid},
        )
        answer = call(bearer(unsigned))
        assert (answer.status, _error_code(answer)) == (401, "invalid_token")

    def test_unknown_key_id_is_not_echoed(self, call: Call) -> None:
        """A kid the ring lacks: invalid_token, and the kid never comes back."""
        kid = 'evil"\r\nX-Injected: 1'
        token = jwt.encode(
            {"sub": "m", "aud": AUDIENCE, "exp": 2**40},
            "some-other-secret-some-other-secret-xx",
            algorithm="HS256",
            headers={"kid": kid},
        )
        answer = call(bearer(token))
        assert invalid_token("token was signed with an unknown key") == seen(answer)
        assert "evil" not in answer.raw

    def test_nothing_secret_in_any_response_or_log_line(
        self,
        call: Call,
        issue: Issue,
        jwt_vault: VaultFile,
        clock: FrozenClock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Refusals name no token, key id or secret in bodies, headers or logs."""
        caplog.set_level(logging.DEBUG)
        secrets = json.loads(jwt_vault.path.read_text())["JWT_SECRETS"].values()
        good = issue()
        tokens = [good + "x", issue(aud="billing"), good]
        clock.advance(timedelta(hours=2))  # the last one is now expired
        answers = [call(bearer(t)) for t in tokens]
        shown = " ".join(a.raw for a in answers) + " ".join(r.getMessage() for r in caplog.records)
        assert all(a.status == 401 for a in answers)
        for secret in secrets:
            assert secret not in shown
        for token in tokens:
            assert token not in shown
            assert token.split(".")[2] not in shown


def _error_code(answer: Answer) -> str | None:
    challenge = answer.challenge or ""
    marker = 'error="'
    if marker not in challenge:
        return None
    return challenge.split(marker, 1)[1].split('"', 1)[0]


def answer_from(status: int, headers: Any, text: str) -> Answer:
    """An :class:`Answer` from a response's parts (``raw`` holds headers and body)."""
    body: Any = json.loads(text) if text else None
    raw = " ".join(f"{k}: {v}" for k, v in headers.items()) + " " + text
    return Answer(status, headers.get("WWW-Authenticate"), body, raw)


def rotate_and_prune_under_traffic(
    call: Call,
    *,
    service: TokenService,
    issue: Issue,
    vault: VaultFile,
    log: AuditLog,
    clock: FrozenClock,
) -> None:
    """The runbook's rotation while a client thread keeps calling the app in-process.

    Old tokens work until they expire, new ones carry the new key, no request fails, and
    after ``prune`` (once the clock passed the old key's last token) the old key is gone.
    The token lifetime is $ERP_JWT_MAX_TOKEN_TTL_SECONDS (the caller sets 15 minutes).
    """
    ttl = timedelta(minutes=15)
    old = issue("ada", ttl=ttl)
    tokens = [old]
    failures: list[Answer] = []
    served: Counter[str] = Counter()
    changed = threading.Condition()
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            token = tokens[i % len(tokens)]
            i += 1
            answer = call(bearer(token))
            with changed:
                if answer.status == 200:
                    served[token] += 1
                else:
                    failures.append(answer)
                changed.notify_all()

    def wait_for(token: str, count: int) -> None:
        with changed:
            assert changed.wait_for(lambda: served[token] >= count or bool(failures), 60)

    client = threading.Thread(target=load)
    client.start()
    try:
        wait_for(old, 10)
        clock.advance(timedelta(minutes=1))
        rotate_key(vault=vault, log=log, clock=clock)
        service.reload()
        new = issue("bo", ttl=ttl)
        assert _kid(new) != _kid(old)
        tokens.append(new)
        wait_for(new, 20)
        wait_for(old, served[old] + 20)
    finally:
        stop.set()
        client.join(timeout=60)
    assert failures == []

    clock.advance(timedelta(minutes=9))
    later = issue("cy", ttl=ttl)
    assert (call(bearer(old)).status, call(bearer(later)).status) == (200, 200)
    clock.advance(timedelta(minutes=6, seconds=31))  # past the old token's exp + leeway
    pruned = prune_keys(vault=vault, log=log, clock=clock)
    assert [k["id"] for k in (pruned.event or {})["removed"]] == [_kid(old)]
    service.reload()
    assert _error_code(call(bearer(old))) == "invalid_token"
    after = issue("di", ttl=ttl)
    assert (call(bearer(later)).status, call(bearer(after)).status) == (200, 200)


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])
