"""The Forge page (see agents.views)."""

from __future__ import annotations

from django.urls import path

from . import usage_views, views

app_name = "agents"

urlpatterns = [
    path("forge/", views.forge, name="forge"),
    path("forge/stream", views.forge_stream, name="stream"),
    path("forge/go/<str:token>", views.forge_go, name="go"),
    path("forge/history", views.forge_history, name="history"),
    path("forge/runs/<int:pk>/", views.run_detail, name="run"),
    path("usage/", usage_views.usage_page, name="usage"),
]
