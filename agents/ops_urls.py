"""Operations endpoints at the site root (included by ideaforge/urls.py)."""

from __future__ import annotations

from django.urls import path

from . import ops_views

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
]
