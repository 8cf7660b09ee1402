"""Agent runs on a user's own gateway URL: the endpoint's free text never reaches the run's
reason, the events or the record (docs/security.md, "Error texts"); the operator's gateway keeps
a short redacted snippet, since the operator chose that endpoint."""

from __future__ import annotations

import pytest

from agents.catalog import AGENTS
from agents.exceptions import AgentError
from agents.models import AgentRun
from agents.services import run_agent

REMOTE_TEXT = "quota group sandbox is closed for maintenance"


def _error_body() -> dict:
    return {"error": {"message": f"upstream says: {REMOTE_TEXT}", "type": "invalid_request_error"}}


def test_a_users_gateway_error_text_is_told_in_our_words(alice, alice_gateway, gateway2):
    gateway2.inject(path_prefix="/v1/chat", status=400, body=_error_body(), times=None)
    with pytest.raises(AgentError) as raised:
        run_agent(agent=AGENTS["idea_generator"], user=alice, prompt="x")
    record = AgentRun.objects.get()
    shown = f"{raised.value} {record.error} {record.fallbacks}"
    assert "HTTP 400" in shown
    assert REMOTE_TEXT not in shown


def test_the_operators_gateway_keeps_a_redacted_snippet(alice, platform_gateway):
    platform_gateway.inject(path_prefix="/v1/chat", status=400, body=_error_body(), times=None)
    with pytest.raises(AgentError) as raised:
        run_agent(agent=AGENTS["idea_generator"], user=alice, prompt="x")
    assert REMOTE_TEXT in f"{raised.value} {AgentRun.objects.get().error}"
