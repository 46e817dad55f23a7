"""Routes: a plain Django view and a DRF view, both behind bearer tokens."""

from __future__ import annotations

from django.urls import path
from ledger import views

urlpatterns = [
    path("me", views.me),
    path("api/me", views.ApiMe.as_view()),
    path("api/customers/<int:pk>", views.CustomerDetail.as_view()),
]
