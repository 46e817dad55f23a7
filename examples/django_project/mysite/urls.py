"""Routes: plain Django views (sync and async) and DRF views, all behind bearer tokens."""

from __future__ import annotations

from django.urls import path
from ledger import views

urlpatterns = [
    path("me", views.me),
    path("me-async", views.me_async),
    path("api/me", views.ApiMe.as_view()),
    path("api/customers/<int:pk>", views.CustomerDetail.as_view()),
]
