"""Bearer tokens over HTTP (RFC 6750), one behaviour for every adapter.

A request without bearer credentials gets ``401`` and ``WWW-Authenticate: Bearer`` with no
error code (RFC 6750 section 3.1: the client may simply not know it must authenticate); a
malformed ``Authorization: Bearer`` header gets ``400 invalid_request``; a refused token gets
``401`` with ``error="invalid_token"`` and a short description. Descriptions are fixed
phrases or the library's own messages, filtered to the characters RFC 6750 allows: the
token, its key id and the key never appear in a response or a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from erp import security
from erp.errors import ConfigError, InvalidToken, TokenExpired, TransientError, UnknownKeyId

__all__ = ["BearerError", "BearerPolicy", "TokenVerifier", "bearer_token"]

log = logging.getLogger("erp.integrations")

Audience = str | Iterable[str] | None


class TokenVerifier(Protocol):
    """Anything that verifies a token like :class:`erp.security.TokenService` does."""

    def verify(
        self, token: str, *, audience: Audience = None, issuer: str | None = None
    ) -> dict[str, Any]:
        """The token's claims, or :class:`erp.errors.InvalidToken` (or a subclass)."""
        ...


class _SecurityVerifier:
    """:func:`erp.security.verify_token`, looked up per call (tests may replace it)."""

    def verify(
        self, token: str, *, audience: Audience = None, issuer: str | None = None
    ) -> dict[str, Any]:
        return security.verify_token(token, audience=audience, issuer=issuer)

    def __repr__(self) -> str:
        return "erp.security.verify_token"


class BearerError(Exception):
    """Why a request is refused, as an HTTP status, an RFC 6750 error code and a phrase."""

    def __init__(self, status: int, error: str | None, description: str, realm: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.realm = realm

    @property
    def headers(self) -> dict[str, str]:
        """``WWW-Authenticate`` for 400/401 answers (RFC 6750 section 3); none otherwise."""
        if self.status not in (400, 401):
            return {}
        params = [f'realm="{self.realm}"'] if self.realm else []
        if self.error is not None:
            params += [f'error="{self.error}"', f'error_description="{self.description}"']
        return {"WWW-Authenticate": "Bearer" + (" " + ", ".join(params) if params else "")}

    @property
    def body(self) -> dict[str, str]:
        """The JSON body every adapter sends, shaped as FastAPI's and DRF's own errors."""
        return {"detail": self.description}


# RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash)
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_MAX_DESCRIPTION = 120
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _describe(exc: InvalidToken) -> str:
    # fixed phrases where the library's message carries request data (the kid)
    if isinstance(exc, TokenExpired):
        return "token has expired"
    if isinstance(exc, UnknownKeyId):
        return "token was signed with an unknown key"
    text = _UNSAFE.sub("?", str(exc))[:_MAX_DESCRIPTION].strip()
    return text or "token rejected"


def bearer_token(authorization: str | None, realm: str = "") -> str:
    """The token in an ``Authorization`` header value, or :class:`BearerError`."""
    if not authorization:
        raise BearerError(401, None, "bearer token required", realm)
    scheme, _sep, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":  # another scheme: as good as no credentials (section 3.1)
        raise BearerError(401, None, "bearer token required", realm)
    token = rest.strip()
    if not _B64TOKEN.fullmatch(token):
        raise BearerError(
            400, "invalid_request", "malformed Authorization header: expected Bearer <token>", realm
        )
    return token


@dataclass(frozen=True)
class BearerPolicy:
    """What every adapter checks: the verifier (default :func:`erp.security.verify_token`),
    the accepted audience and issuer, and the realm named in ``WWW-Authenticate``."""

    verifier: TokenVerifier | None = None
    audience: Audience = None
    issuer: str | None = None
    realm: str = ""

    def __post_init__(self) -> None:
        if _UNSAFE.search(self.realm):
            raise ValueError("realm must be printable ASCII without quotes or backslashes")
        if self.verifier is None:
            object.__setattr__(self, "verifier", _SecurityVerifier())

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """Verify the bearer token of an ``Authorization`` header; its claims or BearerError."""
        return self.verify(bearer_token(authorization, self.realm))

    def verify(self, token: str) -> dict[str, Any]:
        """Verify ``token`` itself; its claims or :class:`BearerError`."""
        verifier = self.verifier
        assert verifier is not None  # set in __post_init__
        try:
            return verifier.verify(token, audience=self.audience, issuer=self.issuer)
        except InvalidToken as exc:
            description = _describe(exc)
            log.info("bearer token refused: %s", description)
            raise BearerError(401, "invalid_token", description, self.realm) from None
        except TransientError as exc:
            log.warning("token verification unavailable: %s", exc)
            raise BearerError(
                503, None, "token verification is temporarily unavailable", self.realm
            ) from None
        except ConfigError as exc:
            log.error("token verification is misconfigured: %s", exc)
            raise BearerError(
                500, None, "token verification is not configured", self.realm
            ) from None
