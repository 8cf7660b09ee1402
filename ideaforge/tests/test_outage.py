"""The one outage rule shared by the cache, the token store and the rate limiter."""

from __future__ import annotations

import logging

import pytest

from ideaforge.outage import Outage

LOGGER = "ideaforge.tests.outage"


@pytest.fixture
def retry():
    return {"seconds": 60.0}


@pytest.fixture
def outage(retry) -> Outage:
    return Outage(
        "Store",
        meanwhile="using memory",
        back="shared again",
        retry_seconds=lambda: retry["seconds"],
        logger=logging.getLogger(LOGGER),
    )


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_an_outage_is_remembered_and_logged_once_however_many_calls_fail(outage, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert not outage.down and not outage.in_outage
    for _ in range(5):
        outage.failed(ConnectionError("redis://:hunter2@10.0.0.7:6379 refused"), where="cache.get")
    assert outage.down and outage.in_outage and outage.outages == 1
    (line,) = _lines(caplog)
    assert line == "Store unavailable (ConnectionError in cache.get): using memory; retrying every 60 s"
    # The exception's text can hold the store's URL and password: never logged.
    assert "hunter2" not in caplog.text and "10.0.0.7" not in caplog.text


def test_after_the_retry_period_the_store_is_asked_again_but_the_outage_lasts(outage, retry):
    retry["seconds"] = 0.0
    outage.failed(TimeoutError(), where="token store")
    assert not outage.down, "a zero retry period lets the next call try the store"
    assert outage.in_outage, "but the outage is not over until a call succeeds"


def test_the_first_success_ends_the_outage_with_one_line(outage, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert outage.succeeded() is False, "no outage, nothing to end"
    outage.failed(ConnectionError(), where="cache.set")
    assert outage.succeeded() is True
    assert outage.succeeded() is False
    assert not outage.down and not outage.in_outage
    lines = _lines(caplog)
    assert len(lines) == 2 and lines[1].startswith("Store is back after ") and lines[1].endswith(": shared again")
    outage.failed(ConnectionError(), where="cache.set")
    assert outage.outages == 2, "a new failure after recovery is a new outage"
