"""The example's views: ``@token_required`` for plain Django, the DRF class for APIs."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from erp.integrations.django.auth import token_required
from ledger.models import Customer


@token_required
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.erp_claims["sub"]})  # type: ignore[attr-defined]


@token_required
async def me_async(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.erp_claims["sub"]})  # type: ignore[attr-defined]


class ApiMe(APIView):
    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth["sub"]})


class CustomerDetail(APIView):
    def get(self, request: Request, pk: int) -> Response:
        customer = Customer.objects.get(pk=pk)
        body: dict[str, Any] = {"name": customer.name, "ssn": customer.ssn}
        return Response({**body, "profile": customer.profile})
