"""Django REST framework: ``ErpTokenAuthentication`` verifies bearer tokens with ``erp``.

``REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [
"erp.integrations.django.drf.ErpTokenAuthentication"]}``. A request without a bearer token
is left to the next class (DRF then answers 401 with a bare ``Bearer`` challenge); a refused
token is 401 with ``error="invalid_token"``. ``request.user`` is the token's user and
``request.auth`` its claims.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from erp.integrations._bearer import BearerError
from erp.integrations.django.auth import user_for_claims
from erp.integrations.django.conf import auth_policy

__all__ = ["ErpTokenAuthentication"]

_ERROR = "erp_bearer_error"


class _Refused(exceptions.AuthenticationFailed):
    """AuthenticationFailed carrying the adapter's status (401, or 400 for a bad header)."""

    def __init__(self, error: BearerError) -> None:
        super().__init__(error.description)
        self.status_code = error.status


class _Unavailable(exceptions.APIException):
    def __init__(self, error: BearerError) -> None:
        super().__init__(error.description)
        self.status_code = error.status


class ErpTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` verified against the ``erp.security`` ring."""

    def authenticate(self, request: Request) -> tuple[Any, dict[str, Any]] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not isinstance(header, str) or header.split(" ", 1)[0].lower() != "bearer":
            return None
        policy = auth_policy()
        try:
            claims = policy.claims(header)
            return user_for_claims(claims, policy.realm), claims
        except BearerError as error:
            if error.status >= 500:
                raise _Unavailable(error) from None
            # DRF asks authenticate_header() for the challenge after this; keep the reason
            setattr(request._request, _ERROR, error)
            raise _Refused(error) from None

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request._request, _ERROR, None)
        if not isinstance(error, BearerError):
            error = BearerError(401, None, "bearer token required", auth_policy().realm)
        return error.headers["WWW-Authenticate"]
