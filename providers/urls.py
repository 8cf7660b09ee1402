"""Settings > AI providers pages and the JSON API (see providers.views, providers.api)."""

from __future__ import annotations

from django.urls import path

from . import api, views

app_name = "providers"

urlpatterns = [
    path("settings/providers/", views.settings_page, name="settings"),
    path("settings/providers/order", views.credential_order, name="order"),
    path("settings/providers/<str:provider>/verify", views.credential_verify, name="verify"),
    path("settings/providers/<str:provider>/save", views.credential_save, name="save"),
    path("settings/providers/<str:provider>/preferences", views.credential_preferences, name="preferences"),
    path("settings/providers/<str:provider>/enabled", views.credential_enabled, name="enabled"),
    path("settings/providers/<str:provider>/refresh", views.credential_refresh, name="refresh"),
    path("settings/providers/<str:provider>/delete", views.credential_delete, name="delete"),
    # JSON API (session + CSRF). The fixed names come before <provider>.
    path("api/providers", api.provider_list, name="api_list"),
    path("api/providers/verify", api.provider_verify, name="api_verify"),
    path("api/providers/configure", api.provider_configure, name="api_configure"),
    path("api/providers/<str:provider>", api.provider_delete, name="api_delete"),
]
