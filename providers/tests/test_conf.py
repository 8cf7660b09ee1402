"""providers/conf.py holds each setting's one default; settings.py, `.env.example` and
docs/configuration.md agree with it (the checks are in ideaforge/testing.py, shared with agents)."""

from __future__ import annotations

import pytest

from ideaforge import testing
from providers import conf
from providers.conf import DECLARED, app_settings

FROM_ENV = {name: entry for name, entry in DECLARED.items() if entry.env}


@pytest.fixture
def production_debug(monkeypatch):
    """DEBUG-dependent defaults as outside DEBUG (the suite runs with DJANGO_DEBUG=true)."""
    monkeypatch.setattr(conf, "_configured_debug", False)


def test_the_declaration_is_explicit_and_one_to_one():
    assert "HTTP_CONNECT_TIMEOUT" in FROM_ENV and "BACKENDS" not in FROM_ENV  # the filter works
    settings_names = [entry.setting for entry in DECLARED.values()]
    env_names = [entry.env for entry in FROM_ENV.values()]
    assert len(set(settings_names)) == len(settings_names)
    assert len(set(env_names)) == len(env_names)
    assert (DECLARED["OPENAI_BASE_URL"].setting, DECLARED["OPENAI_BASE_URL"].env) == (
        "PROVIDERS_OPENAI_BASE_URL",
        "OPENAI_BASE_URL",
    )
    assert DECLARED["GATEWAY_MAX_CONNECTIONS"].env is None


@pytest.mark.parametrize("document", testing.DOCUMENTS)
def test_every_declared_env_var_is_documented(document):
    missing = testing.undocumented((entry.env for entry in FROM_ENV.values()), document)
    assert not missing, f"{document} does not mention: {', '.join(missing)}"


def test_settings_py_reads_each_variable_and_writes_no_default():
    testing.assert_settings_py_reads_without_default(DECLARED)


def test_unset_variables_leave_the_settings_none():
    testing.assert_unset_variables_leave_settings_none(DECLARED)


def test_a_variable_set_empty_is_passed_through_as_given():
    loaded = testing.load_settings(
        {"OPENAI_BASE_URL": "", "PROVIDERS_REQUIRE_HTTPS": "", "AI_GATEWAY_ALLOWED_HOSTS": ""}
    )
    assert (loaded["PROVIDERS_OPENAI_BASE_URL"], loaded["PROVIDERS_REQUIRE_HTTPS"]) == ("", False)
    assert loaded["AI_GATEWAY_ALLOWED_HOSTS"] == []


@pytest.mark.parametrize("name", FROM_ENV)
def test_a_set_variable_is_parsed_to_the_defaults_type(name, production_debug):
    testing.assert_default_parses_back(DECLARED[name], DECLARED[name].default_value())


@pytest.mark.parametrize("name", DECLARED)
def test_none_or_absent_setting_reads_the_default(name, settings, production_debug):
    entry = DECLARED[name]
    setattr(settings, entry.setting, None)
    assert getattr(app_settings, name) == entry.default_value()
    delattr(settings, entry.setting)
    assert getattr(app_settings, name) == entry.default_value()


def test_a_setting_wins_over_the_default(settings):
    settings.PROVIDERS_HTTP_CONNECT_TIMEOUT = 1.5
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.AI_GATEWAY_TOKEN_AUTH_METHOD = ""
    assert app_settings.HTTP_CONNECT_TIMEOUT == 1.5
    assert app_settings.ALLOW_PRIVATE_URLS is False
    assert app_settings.AI_GATEWAY_TOKEN_AUTH_METHOD == ""
    with pytest.raises(AttributeError):
        app_settings.NOT_A_SETTING  # noqa: B018


def test_debug_dependent_defaults_follow_the_configured_debug(settings, monkeypatch):
    # settings.DEBUG is False in every test (Django's test runner sets it); the defaults follow
    # DEBUG as configured when the app loaded (DJANGO_DEBUG=true here), as they did when
    # settings.py computed them.
    assert settings.DEBUG is False
    assert (app_settings.REQUIRE_HTTPS, app_settings.ALLOW_LOOPBACK_URLS) == (False, True)
    assert app_settings.ALLOW_PRIVATE_URLS is False  # development mode is loopback only
    monkeypatch.setattr(conf, "_configured_debug", False)
    assert (app_settings.REQUIRE_HTTPS, app_settings.ALLOW_LOOPBACK_URLS) == (True, False)


@pytest.mark.parametrize("name", FROM_ENV)
def test_the_docs_state_the_default(name, monkeypatch):
    entry = DECLARED[name]
    monkeypatch.setattr(conf, "_configured_debug", False)
    default = entry.default_value()
    monkeypatch.setattr(conf, "_configured_debug", True)
    under_debug = entry.default_value() if callable(entry.default) else None
    testing.assert_docs_state(entry, default, under_debug)


def test_beat_schedule_uses_the_refresh_interval():
    from ideaforge.celery import app

    entry = app.conf.beat_schedule["providers-refresh-gateway-tokens"]
    assert entry["task"] == "providers.refresh_gateway_tokens"
    assert entry["schedule"] == app_settings.TOKEN_REFRESH_INTERVAL
    assert entry["options"]["expires"] == app_settings.TOKEN_REFRESH_INTERVAL


def test_beat_keeps_its_schedule_file_under_the_state_dir(settings, tmp_path):
    from django.conf import settings as django_settings

    from ideaforge.celery import add_token_refresh_schedule, app

    assert app.conf.beat_schedule_filename == str(django_settings.BASE_DIR / "var" / "celerybeat-schedule")
    settings.IDEAFORGE_STATE_DIR = str(tmp_path / "state")
    add_token_refresh_schedule(app)
    assert app.conf.beat_schedule_filename == str(tmp_path / "state" / "celerybeat-schedule")
    assert (tmp_path / "state").is_dir()
    settings.IDEAFORGE_STATE_DIR = None
    add_token_refresh_schedule(app)
