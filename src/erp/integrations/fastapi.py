"""FastAPI and Starlette: a dependency and a middleware that verify bearer tokens with ``erp``.

``BearerAuth`` is a FastAPI security dependency (it shows in the OpenAPI schema as an HTTP
bearer scheme) returning the token's claims; ``BearerAuthMiddleware`` protects a whole
Starlette or FastAPI app and leaves the claims in ``request.state.claims``. Both answer
refused requests as RFC 6750 says (see :mod:`erp.integrations._bearer`). Verification runs
inline in the event loop: it is a dictionary look-up and one HMAC, cheaper than a hop to
the thread pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from erp.integrations._bearer import Audience, BearerError, BearerPolicy, TokenVerifier

__all__ = ["BearerAuth", "BearerAuthMiddleware", "BearerError", "TokenVerifier", "current_claims"]

Claims = dict[str, Any]


def _http_error(error: BearerError) -> HTTPException:
    return HTTPException(status_code=error.status, detail=error.description, headers=error.headers)


class BearerAuth(SecurityBase):
    """``Depends(BearerAuth(audience="erp-api"))``: the verified claims of the request's token.

    ``verifier`` defaults to :func:`erp.security.verify_token` (the configured key ring);
    pass a :class:`erp.security.TokenService`, or any object with the same ``verify``, to
    use another ring or clock. With ``auto_error=False`` a request without bearer
    credentials gets ``None`` instead of a 401 (routes open to anonymous callers); a token
    that is present but refused is still a 401.
    """

    def __init__(
        self,
        *,
        audience: Audience = None,
        issuer: str | None = None,
        verifier: TokenVerifier | None = None,
        realm: str = "",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.policy = BearerPolicy(verifier=verifier, audience=audience, issuer=issuer, realm=realm)
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> Claims | None:
        try:
            return self.policy.claims(request.headers.get("authorization"))
        except BearerError as error:
            if not self.auto_error and error.status == 401 and error.error is None:
                return None  # no bearer credentials at all: an anonymous caller
            raise _http_error(error) from None


class BearerAuthMiddleware:
    """ASGI middleware: every HTTP request and websocket needs a valid bearer token.

    Paths in ``exclude_paths`` (exact matches, e.g. ``/health``) pass unchecked. The claims
    are put in ``request.state.claims``; read them with :func:`current_claims`. A refused
    websocket is closed with code 1008 (policy violation) before it is accepted.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        audience: Audience = None,
        issuer: str | None = None,
        verifier: TokenVerifier | None = None,
        realm: str = "",
        exclude_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.policy = BearerPolicy(verifier=verifier, audience=audience, issuer=issuer, realm=realm)
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope["path"] in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        try:
            claims = self.policy.claims(Headers(scope=scope).get("authorization"))
        except BearerError as error:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse(error.body, status_code=error.status, headers=error.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["claims"] = claims
        await self.app(scope, receive, send)


def current_claims(request: Request) -> Claims:
    """Dependency: the claims :class:`BearerAuthMiddleware` verified for this request.

    A route the middleware skipped (``exclude_paths``) has none: 401, as if unauthenticated.
    """
    claims = getattr(request.state, "claims", None)
    if not isinstance(claims, dict):
        raise _http_error(BearerError(401, None, "bearer token required", ""))
    return claims
