"""agents/conf.py holds each setting's one default; settings.py, `.env.example` and
docs/configuration.md agree with it (the checks are in ideaforge/testing.py)."""

from __future__ import annotations

import pytest

from agents.conf import DECLARED, app_settings
from ideaforge import testing


@pytest.mark.parametrize("document", testing.DOCUMENTS)
def test_every_declared_env_var_is_documented(document):
    missing = testing.undocumented((entry.env for entry in DECLARED.values()), document)
    assert not missing, f"{document} does not mention: {', '.join(missing)}"


def test_settings_py_reads_each_variable_and_writes_no_default():
    testing.assert_settings_py_reads_without_default(DECLARED)


def test_unset_variables_leave_the_settings_none():
    testing.assert_unset_variables_leave_settings_none(DECLARED)


@pytest.mark.parametrize("name", DECLARED)
def test_set_variable_parses_back_and_the_docs_state_the_default(name):
    entry = DECLARED[name]
    assert entry.env and not callable(entry.default)
    testing.assert_default_parses_back(entry, entry.default)
    testing.assert_docs_state(entry, entry.default)


@pytest.mark.parametrize("name", DECLARED)
def test_none_or_absent_setting_reads_the_default(name, settings):
    entry = DECLARED[name]
    setattr(settings, entry.setting, None)
    assert getattr(app_settings, name) == entry.default
    delattr(settings, entry.setting)
    assert getattr(app_settings, name) == entry.default


def test_a_setting_wins_over_the_default(settings):
    settings.AGENTS_BREAKER_OPEN_SECONDS = 7.5
    assert app_settings.BREAKER_OPEN_SECONDS == 7.5
