"""FastAPI/Starlette: the dependency and the middleware, against the real framework."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import jwt
import pytest
from examples import fastapi_app
from fastapi import Depends, FastAPI, Request
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from tests.integrations.conftest import AUDIENCE, Issue
from tests.integrations.contract import Answer, BearerContract, Call, answer_from, bearer

from erp.errors import TransientError
from erp.integrations.fastapi import BearerAuth, BearerAuthMiddleware, current_claims
from erp.security import TokenService, issue_token


def _client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _caller(client: TestClient) -> Call:
    def call(headers: Mapping[str, str]) -> Answer:
        response = client.get("/me", headers=dict(headers))
        return answer_from(response.status_code, response.headers, response.text)

    return call


class TestDependency(BearerContract):
    """The example app's ``Depends(BearerAuth(...))`` route."""

    @pytest.fixture
    def call(self, service: TokenService) -> Iterator[Call]:
        yield from (_caller(c) for c in _client(fastapi_app.create_app(verifier=service)))


def _middleware_app(service: TokenService) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        BearerAuthMiddleware, verifier=service, audience=AUDIENCE, exclude_paths=["/health"]
    )

    @app.get("/me")
    async def me(claims: dict[str, Any] = Depends(current_claims)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims["sub"]}

    @app.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        return {"sub": request.state.claims["sub"]}

    @app.get("/health")
    async def health(claims: dict[str, Any] = Depends(current_claims)) -> dict[str, bool]:  # noqa: B008
        return {"ok": True}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": websocket.state.claims["sub"]})
        await websocket.close()

    return app


class TestMiddleware(BearerContract):
    """A whole app behind ``BearerAuthMiddleware``."""

    @pytest.fixture
    def client(self, service: TokenService) -> Iterator[TestClient]:
        yield from _client(_middleware_app(service))

    @pytest.fixture
    def call(self, client: TestClient) -> Call:
        return _caller(client)

    def test_claims_are_in_request_state(self, client: TestClient, issue: Issue) -> None:
        """Handlers without the dependency read request.state.claims."""
        assert client.get("/state", headers=bearer(issue("bo"))).json() == {"sub": "bo"}

    def test_excluded_path_passes_but_has_no_claims(self, client: TestClient) -> None:
        """An excluded path is not checked; asking it for claims is a bare 401."""
        response = client.get("/health")
        assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, "Bearer")

    def test_websocket_with_valid_token_is_accepted(self, client: TestClient, issue: Issue) -> None:
        """A websocket handshake with a token gets through with its claims."""
        with client.websocket_connect("/ws", headers=bearer(issue("cy"))) as socket:
            assert socket.receive_json() == {"sub": "cy"}

    def test_websocket_without_token_is_closed_with_policy_violation(
        self, client: TestClient
    ) -> None:
        """A websocket handshake without a token is closed with 1008."""
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws"):
            pass
        assert closed.value.code == 1008


def test_default_verifier_is_erp_security(jwt_vault: object) -> None:
    """Without a verifier, tokens from erp.security.issue_token are accepted."""
    token = issue_token({"sub": "ada", "aud": AUDIENCE}, ttl=timedelta(minutes=5))
    for client in _client(fastapi_app.app):
        assert client.get("/me", headers=bearer(token)).json() == {"sub": "ada"}


def test_missing_key_ring_is_500_without_detail(caplog: pytest.LogCaptureFixture) -> None:
    """No vault at all: 500 'not configured', and the cause is logged for operators."""
    token = jwt.encode({"exp": 2**40}, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    for client in _client(fastapi_app.app):
        response = client.get("/me", headers=bearer(token))
    assert (
        response.status_code,
        response.json(),
    ) == (500, {"detail": "token verification is not configured"})
    assert any("JWT_SECRETS" in r.getMessage() for r in caplog.records)


class _Unreachable:
    def verify(self, token: str, **_: Any) -> dict[str, Any]:
        raise TransientError("key set endpoint unreachable")


def test_unreachable_key_source_is_503() -> None:
    """A verifier that cannot reach its keys: 503, no challenge."""
    app = fastapi_app.create_app(verifier=_Unreachable())
    for client in _client(app):
        response = client.get("/me", headers=bearer("a.b.c"))
    assert (response.status_code, response.headers.get("WWW-Authenticate")) == (503, None)


def test_openapi_declares_a_bearer_scheme(service: TokenService) -> None:
    """The dependency appears in the OpenAPI schema as HTTP bearer (JWT)."""
    schema = fastapi_app.create_app(verifier=service).openapi()
    assert schema["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_optional_auth_gives_none_without_credentials(service: TokenService, issue: Issue) -> None:
    """auto_error=False: no token is None (anonymous); a bad token is still refused."""
    app = FastAPI()
    auth = BearerAuth(audience=AUDIENCE, verifier=service, auto_error=False)

    @app.get("/hello")
    async def hello(claims: dict[str, Any] | None = Depends(auth)) -> dict[str, str]:  # noqa: B008
        return {"hello": claims["sub"] if claims else "stranger"}

    for client in _client(app):
        assert client.get("/hello").json() == {"hello": "stranger"}
        assert client.get("/hello", headers=bearer(issue("ada"))).json() == {"hello": "ada"}
        assert client.get("/hello", headers=bearer("not-a-jwt")).status_code == 401
