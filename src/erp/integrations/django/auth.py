"""Token authentication for Django views: a backend and a ``@token_required`` decorator.

``AUTHENTICATION_BACKENDS += ["erp.integrations.django.auth.TokenBackend"]`` lets
``django.contrib.auth.authenticate(request, token=...)`` turn a verified token into a user
(the user whose natural key, normally the username, is the token's ``sub``). Views under
``@token_required`` run only with a valid bearer token; ``request.user`` is that user and
``request.erp_claims`` the claims. Refusals are RFC 6750 answers, as in every adapter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, JsonResponse

from erp.integrations._bearer import BearerError
from erp.integrations.django.conf import auth_policy, user_claim

__all__ = ["TokenBackend", "refusal", "token_required", "user_for_claims"]

F = TypeVar("F", bound=Callable[..., Any])


def user_for_claims(claims: dict[str, Any], realm: str = "") -> AbstractBaseUser:
    """The active user the claims name, or :class:`BearerError` (401 invalid_token)."""
    name = claims.get(user_claim())
    model = get_user_model()
    user = None
    if isinstance(name, str) and name:
        try:  # BaseUserManager's lookup by USERNAME_FIELD
            user = model._default_manager.get_by_natural_key(name)  # type: ignore[attr-defined]
        except model.DoesNotExist:
            user = None
    if not isinstance(user, AbstractBaseUser) or not getattr(user, "is_active", True):
        raise BearerError(401, "invalid_token", "token subject is not an active user", realm)
    return user


def refusal(error: BearerError) -> JsonResponse:
    """The response every adapter sends for ``error``."""
    response = JsonResponse(error.body, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


class TokenBackend(BaseBackend):
    """``authenticate(request, token=...)``: the user of a valid token, else ``None``."""

    def authenticate(
        self, request: HttpRequest | None, token: str | None = None, **_: Any
    ) -> AbstractBaseUser | None:
        if token is None:
            return None
        policy = auth_policy()
        try:
            return user_for_claims(policy.verify(token), policy.realm)
        except BearerError:
            return None

    def get_user(self, user_id: Any) -> AbstractBaseUser | None:
        model = get_user_model()
        try:
            return model._default_manager.get(pk=user_id)
        except model.DoesNotExist:
            return None


def _authenticate(request: HttpRequest) -> HttpResponse | None:
    """Verify the request's token and set ``request.user``/``erp_claims``; a refusal or None."""
    policy = auth_policy()
    try:
        claims = policy.claims(request.headers.get("Authorization"))
        user = user_for_claims(claims, policy.realm)
    except BearerError as error:
        return refusal(error)
    request.user = user
    request.erp_claims = claims  # type: ignore[attr-defined]  # ours, like request.user
    return None


def token_required(view: F) -> F:
    """Run ``view`` (sync or async) only for requests with a valid token naming an active user."""
    if iscoroutinefunction(view):

        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            # the user look-up is ORM work: off the event loop, as Django requires
            refused = await sync_to_async(_authenticate)(request)
            return refused if refused is not None else await view(request, *args, **kwargs)

        return cast(F, markcoroutinefunction(functools.wraps(view)(async_wrapper)))

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = _authenticate(request)
        return refused if refused is not None else view(request, *args, **kwargs)

    return cast(F, wrapper)
