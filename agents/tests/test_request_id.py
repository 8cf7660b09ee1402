"""The request id: kept from a well-formed X-Request-ID (else made), echoed on the response,
stored on the run record and on every log line of the run; JSON log lines on request."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.test import Client

from agents.models import AgentRun
from providers.context import current_request_id
from providers.logformat import JsonFormatter, RequestIdFilter, formatter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_web(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def json_lines():
    """Every log record, formatted as the console handler does with LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("agno"), logging.getLogger("django")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)


def test_a_well_formed_request_id_is_kept_and_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a9c21.retry:2")
    assert response["X-Request-ID"] == "edge-7f3a9c21.retry:2"


@pytest.mark.parametrize(
    "given", ["", "short", "has space 12345", "line\nbreak-1234567", "<script>alert(1)</script>", "x" * 65]
)
def test_a_malformed_one_is_replaced(client, given):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_streamed_run_records_the_request_id_and_every_log_line_carries_it(
    alice_web, alice, platform_gateway, openai_fake, alice_openai, json_lines
):
    platform_gateway.fail(503, times=None)  # the run falls back: it logs
    response = alice_web.post(
        "/forge/stream",
        {"agent": "idea_generator", "tier": "fast", "prompt": "x"},
        HTTP_X_REQUEST_ID="req-0123456789abcdef",
    )
    assert current_request_id() == "req-0123456789abcdef"  # the answer runs as the stream is read
    b"".join(response.streaming_content)
    response.close()
    assert current_request_id() == ""  # and the context ends with it (the thread serves others next)
    run = AgentRun.objects.get()
    assert run.request_id == "req-0123456789abcdef" and run.provider == "openai"
    lines = [line for line in json_lines() if line["logger"].startswith(("agents", "agno"))]
    # the run's own lines were captured (its breaker counts the failure: one run opens nothing)
    assert any("circuit still closed" in line["message"] for line in lines)
    assert {line["request_id"] for line in lines} == {"req-0123456789abcdef"}


def test_runs_outside_a_request_have_no_id(alice, platform_gateway):
    from agents.catalog import AGENTS
    from agents.services import run_agent

    assert run_agent(agent=AGENTS["idea_generator"], user=alice, prompt="x").run.request_id == ""


def test_the_log_format_setting(settings):
    settings.LOG_FORMAT = "json"
    assert isinstance(formatter(), JsonFormatter)
    settings.LOG_FORMAT = "plain"
    assert not isinstance(formatter(), JsonFormatter)
    settings.LOG_FORMAT = "xml"
    with pytest.raises(ValueError, match="plain"):
        formatter()
