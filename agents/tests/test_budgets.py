"""Per-user token budgets (agents.budgets), counted from the run records."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from agents import budgets
from agents.budgets import BudgetExceeded
from agents.catalog import AGENTS
from agents.limits import Overrides
from agents.models import AgentRun, RunStatus, UsageLimits
from agents.services import run_agent

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]


def spend(user, tokens: int, *, when: dt.datetime | None = None, **fields) -> AgentRun:
    run = AgentRun.objects.create(
        user=user,
        agent="idea_generator",
        tier="fast",
        status=RunStatus.SUCCEEDED,
        input_tokens=tokens // 2,
        output_tokens=tokens - tokens // 2,
        **fields,
    )
    if when is not None:
        AgentRun.objects.filter(pk=run.pk).update(created_at=when)
    return run


def test_the_daily_budget_refuses_at_the_limit_naming_it_and_its_reset(alice, platform_gateway, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 1000
    spend(alice, 999)
    assert run_agent(agent=GENERATOR, user=alice, prompt="one more").text  # 999 < 1000: allowed
    with pytest.raises(BudgetExceeded) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="over")
    message = str(caught.value)
    assert "daily budget of 1000 tokens" in message and "resets at" in message and "00:00 UTC" in message
    assert 0 < caught.value.retry_after <= 24 * 3600
    assert platform_gateway.chat_requests == 1
    refused = AgentRun.objects.filter(status=RunStatus.RATE_LIMITED).get()
    assert "daily budget" in refused.error


def test_the_monthly_budget_and_its_window(alice, platform_gateway, settings):
    settings.AGENTS_MONTHLY_TOKEN_BUDGET = 500
    last_month = timezone.now().replace(day=1) - dt.timedelta(days=2)
    spend(alice, 10_000, when=last_month)  # outside the window: not counted
    run_agent(agent=GENERATOR, user=alice, prompt="fine")
    spend(alice, 500)
    with pytest.raises(BudgetExceeded, match="monthly budget of 500 tokens"):
        run_agent(agent=GENERATOR, user=alice, prompt="over")


def test_cache_hits_count_zero(alice, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 100
    spend(alice, 0, cache_hit=True)
    spend(alice, 60)
    assert budgets.budgets_for(alice.pk, Overrides())[0].used == 60


def test_overrides_replace_or_remove_the_default(alice, bob, platform_gateway, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 10
    spend(alice, 50)
    spend(bob, 50)
    UsageLimits.objects.create(user=alice, daily_token_budget=0)  # no budget for alice
    UsageLimits.objects.create(user=bob, daily_token_budget=1000)
    assert run_agent(agent=GENERATOR, user=alice, prompt="a").text
    assert run_agent(agent=GENERATOR, user=bob, prompt="b").text
    UsageLimits.objects.filter(user=bob).delete()
    with pytest.raises(BudgetExceeded):
        run_agent(agent=GENERATOR, user=bob, prompt="b")


def test_the_forge_page_warns_at_80_percent(client, alice, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 1000
    client.force_login(alice)
    spend(alice, 700)
    assert 'id="budget-warning"' not in client.get("/forge/").content.decode()
    spend(alice, 100)
    page = client.get("/forge/").content.decode()
    assert 'id="budget-warning"' in page and "800 of your daily budget of 1000 tokens (80%)" in page


def test_the_stream_endpoint_refuses_over_budget_with_429(client, alice, platform_gateway, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 10
    spend(alice, 10)
    client.force_login(alice)
    response = client.post(reverse("agents:stream"), {"agent": "idea_generator", "prompt": "x"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert json.loads(response.content)["code"] == "budget_exceeded"
    assert platform_gateway.chat_requests == 0


def test_operators_see_usage_against_budget_in_the_admin(admin_client, alice, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 1000
    spend(alice, 250)
    UsageLimits.objects.create(user=alice)
    page = admin_client.get(reverse("admin:agents_usagelimits_changelist")).content.decode()
    assert "250 / 1000 (25%)" in page and "250 / -" in page


def test_the_usage_query_is_one_indexed_bounded_aggregate(alice, settings, django_assert_num_queries):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 100
    with django_assert_num_queries(1) as captured:
        budgets.budgets_for(alice.pk, Overrides())
    sql = captured.captured_queries[0]["sql"]
    assert "SUM" in sql.upper() and "created_at" in sql and "user_id" in sql
