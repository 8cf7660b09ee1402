from __future__ import annotations

import time

from agents import cooldown


def test_default_duration_and_expiry(settings):
    settings.AGENTS_COOLDOWN_SECONDS = 1
    assert cooldown.cooldown_remaining(key="cred:1") == 0.0
    assert cooldown.cooldown_start(key="cred:1") == 1
    assert 0 < cooldown.cooldown_remaining(key="cred:1") <= 1
    assert cooldown.cooldown_remaining(key="cred:2") == 0.0
    time.sleep(1.1)
    assert cooldown.cooldown_remaining(key="cred:1") == 0.0


def test_retry_after_lengthens_but_never_shortens(settings):
    settings.AGENTS_COOLDOWN_SECONDS = 30
    assert cooldown.cooldown_start(key="k", retry_after=5) == 30
    assert cooldown.cooldown_start(key="k", retry_after=600) == 600
    assert cooldown.cooldown_remaining(key="k") > 590
    # A later short failure keeps the long cooldown.
    cooldown.cooldown_start(key="k")
    assert cooldown.cooldown_remaining(key="k") > 590
    assert cooldown.cooldown_start(key="other", retry_after=10**9) == cooldown.MAX_COOLDOWN_SECONDS


def test_many_and_clear():
    cooldown.cooldown_start(key="a")
    assert set(cooldown.cooldown_remaining_many(keys=["a", "b"])) == {"a"}
    cooldown.cooldown_clear(key="a")
    assert cooldown.cooldown_remaining_many(keys=["a", "b"]) == {}


def test_zero_disables(settings):
    settings.AGENTS_COOLDOWN_SECONDS = 0
    assert cooldown.cooldown_start(key="z") == 0
    assert cooldown.cooldown_remaining(key="z") == 0
