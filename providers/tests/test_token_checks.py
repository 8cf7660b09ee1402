"""The beat-interval system check, and the runtime warning for a token lifetime too short for it."""

from __future__ import annotations

import logging

from django.core.management import call_command

from providers import token_checks
from providers.gateway import refresh
from providers.gateway.refresh import RefreshAction, refresh_if_due


def _ids(settings) -> list[str]:
    return [m.id for m in token_checks.check_token_refresh_interval()]


def test_the_defaults_pass(settings):
    assert _ids(settings) == []


def test_an_interval_not_shorter_than_the_margin_warns(settings):
    settings.PROVIDERS_TOKEN_REFRESH_INTERVAL = 300.0
    settings.PROVIDERS_TOKEN_REFRESH_MARGIN = 300.0
    assert _ids(settings) == ["providers.W010"]


def test_an_interval_longer_than_half_the_default_lifetime_warns(settings):
    settings.PROVIDERS_TOKEN_DEFAULT_LIFETIME = 60.0  # due 30 s before expiry
    settings.PROVIDERS_TOKEN_REFRESH_INTERVAL = 45.0
    messages = token_checks.check_token_refresh_interval()
    assert [m.id for m in messages] == ["providers.W011"]
    assert "below 30 s" in messages[0].hint


def test_a_non_positive_interval_is_an_error(settings):
    settings.PROVIDERS_TOKEN_REFRESH_INTERVAL = 0.0
    assert _ids(settings) == ["providers.E010"]


def test_manage_py_check_reports_it(settings, capsys):
    settings.PROVIDERS_TOKEN_REFRESH_INTERVAL = 600.0
    call_command("check")
    assert "providers.W010" in capsys.readouterr().err


def test_a_token_lifetime_too_short_for_beat_is_logged_once(
    settings, token_manager, gateway_sim, gateway_config, caplog, monkeypatch
):
    monkeypatch.setattr(refresh, "_warned_short", set())
    gateway_sim.token_lifetime = 30  # due 15 s before expiry; beat runs every 60 s
    with caplog.at_level(logging.WARNING, logger="providers.gateway.refresh"):
        assert refresh_if_due(gateway_config, key="platform:ai_gateway").action == RefreshAction.REFRESHED
        token_manager.clear()
        assert refresh_if_due(gateway_config, key="platform:ai_gateway").action == RefreshAction.REFRESHED
    lines = [r.getMessage() for r in caplog.records if "PROVIDERS_TOKEN_REFRESH_INTERVAL" in r.getMessage()]
    assert len(lines) == 1 and "live 30 s" in lines[0] and "below 15 s" in lines[0]


def test_a_long_token_is_not_logged(settings, token_manager, gateway_sim, gateway_config, caplog, monkeypatch):
    monkeypatch.setattr(refresh, "_warned_short", set())
    gateway_sim.token_lifetime = 3600
    with caplog.at_level(logging.WARNING, logger="providers.gateway.refresh"):
        refresh_if_due(gateway_config, key="platform:ai_gateway")
    assert not [r for r in caplog.records if "PROVIDERS_TOKEN_REFRESH_INTERVAL" in r.getMessage()]
