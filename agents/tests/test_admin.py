from __future__ import annotations

import pytest

from agents.models import AgentRun, RunStatus
from agents.selectors import run_totals_by_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(alice):
    AgentRun.objects.create(
        user=alice,
        agent="idea_generator",
        tier="fast",
        provider="openai",
        model_id="m",
        status=RunStatus.SUCCEEDED,
        input_tokens=10,
        output_tokens=5,
        latency_ms=100,
    )
    AgentRun.objects.create(
        user=alice,
        agent="idea_critic",
        tier="standard",
        provider="openai",
        model_id="m",
        status=RunStatus.FAILED,
        latency_ms=300,
        error="HTTP 503",
    )
    AgentRun.objects.create(
        user=alice,
        agent="idea_generator",
        tier="fast",
        provider="ai_gateway",
        model_id="g",
        status=RunStatus.SUCCEEDED,
        input_tokens=1,
        output_tokens=2,
        latency_ms=50,
    )


def test_provider_totals(runs):
    totals = {row["provider"]: row for row in run_totals_by_provider(runs=AgentRun.objects.all())}
    assert totals["openai"]["runs"] == 2 and totals["openai"]["succeeded"] == 1 and totals["openai"]["failed"] == 1
    assert totals["openai"]["input_tokens"] == 10 and totals["openai"]["avg_latency_ms"] == 200
    assert totals["ai_gateway"]["output_tokens"] == 2


def test_changelist_filters_and_totals(admin_client, runs):
    page = admin_client.get("/admin/agents/agentrun/").content.decode()
    assert 'id="provider-totals"' in page and "ai_gateway" in page
    for name in ("provider", "status", "agent", "period"):
        assert f"?{name}" in page or f"{name}__" in page
    filtered = admin_client.get("/admin/agents/agentrun/?status__exact=failed")
    assert [row["provider"] for row in filtered.context_data["provider_totals"]] == ["openai"]
    assert admin_client.get("/admin/agents/agentrun/add/").status_code == 403
