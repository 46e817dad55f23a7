"""Flask: an extension and a ``@token_required`` decorator that verify bearer tokens with ``erp``.

``ErpAuth(app)`` (or ``ErpAuth()`` then ``init_app(app)`` in an app factory) reads
``ERP_JWT_AUDIENCE`` and ``ERP_JWT_ISSUER`` from ``app.config`` unless given; a view under
``@token_required`` runs only with a valid token and finds its claims through
:func:`current_claims` (also ``flask.g.erp_claims``). Refusals are answered as RFC 6750
says, with the same status, header and body as the FastAPI and Django adapters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, jsonify, request

from erp.integrations._bearer import Audience, BearerError, BearerPolicy, TokenVerifier

__all__ = ["BearerError", "ErpAuth", "TokenVerifier", "current_claims", "token_required"]

EXTENSION = "erp"
F = TypeVar("F", bound=Callable[..., Any])


class ErpAuth:
    """The extension: holds, per app, what tokens must satisfy (see :class:`BearerPolicy`)."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        audience: Audience = None,
        issuer: str | None = None,
        verifier: TokenVerifier | None = None,
        realm: str = "",
    ) -> None:
        self.audience = audience
        self.issuer = issuer
        self.verifier = verifier
        self.realm = realm
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register on ``app``; ``ERP_JWT_AUDIENCE``/``ERP_JWT_ISSUER`` fill what was not given."""
        app.extensions[EXTENSION] = BearerPolicy(
            verifier=self.verifier,
            audience=self.audience
            if self.audience is not None
            else app.config.get("ERP_JWT_AUDIENCE"),
            issuer=self.issuer if self.issuer is not None else app.config.get("ERP_JWT_ISSUER"),
            realm=self.realm,
        )

    def token_required(self, view: F) -> F:
        """The same as the module's :func:`token_required`."""
        return token_required(view)


def _refusal(error: BearerError) -> Response:
    response = jsonify(error.body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def token_required(view: F) -> F:
    """Run ``view`` only for requests with a valid bearer token; refuse the others."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        policy = current_app.extensions.get(EXTENSION)
        if not isinstance(policy, BearerPolicy):
            raise RuntimeError("erp.integrations.flask: call ErpAuth(app) before using the app")
        try:
            g.erp_claims = policy.claims(request.headers.get("Authorization"))
        except BearerError as error:
            return _refusal(error)
        return current_app.ensure_sync(view)(*args, **kwargs)

    return cast(F, wrapper)


def current_claims() -> dict[str, Any]:
    """The verified claims of the current request (inside a ``@token_required`` view)."""
    claims = g.get("erp_claims")
    if not isinstance(claims, dict):
        raise RuntimeError("no verified token: call current_claims() inside @token_required")
    return claims
