"""The usage page and the admin dashboard, from real run records (runs against the simulator),
the daily roll-up they read, and the admin list's bounded window."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from agents.catalog import AGENTS
from agents.models import LATENCY_COLUMNS, AgentRun, AgentRunDaily, RunStatus
from agents.rollup import rollup_rebuild
from agents.services import run_agent
from agents.usage import quantile_ms, usage_for

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]


def _rollup_rows() -> list[tuple]:
    columns = (
        "day",
        "user_id",
        "provider",
        "model_id",
        "runs",
        "failed",
        "input_tokens",
        "output_tokens",
        *LATENCY_COLUMNS,
    )
    return sorted(AgentRunDaily.objects.values_list(*columns))


def test_real_runs_show_on_the_usage_page(client, alice, bob, platform_gateway):
    results = [run_agent(agent=GENERATOR, user=alice, prompt=f"idea {i}") for i in range(3)]
    run_agent(agent=GENERATOR, user=bob, prompt="bob's")
    client.force_login(alice)
    response = client.get("/usage/")
    assert response.status_code == 200
    page = response.content.decode()
    usage = response.context["usage"]
    assert usage.runs == 3 and usage.runs_by_provider == {"ai_gateway": [0] * 6 + [3]}
    assert usage.input_tokens[-1] == sum(r.run.input_tokens for r in results)
    assert usage.output_tokens[-1] == sum(r.run.output_tokens for r in results)
    (latency,) = usage.latency
    assert (latency.provider, latency.model_id, latency.runs) == ("ai_gateway", "sim-fast", 3)
    assert latency.quantiles[0.5] is not None
    # Charts as SVG with a table of the same numbers; no script, no inline style (strict CSP).
    assert page.count("<svg") == 2 and "<table" in page and "<title>" in page
    assert not re.search(r"\sstyle\s*=", page) and "<script" not in page and "<style" not in page
    assert "agents/usage.css" in page
    today = timezone.localdate().isoformat()
    assert re.search(rf"{today}</th><td>3</td><td>3</td>", page)
    assert usage.cache_hit_rate == 0.0 and "usage-budgets" not in page  # no hits, no budget set


def test_budget_and_cache_hit_rate_on_the_usage_page(client, alice, platform_gateway, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 100_000
    critic = AGENTS["idea_critic"]  # its answers are cached: the second run is a hit
    run_agent(agent=critic, user=alice, prompt="a usage page cache-hit idea")
    run_agent(agent=critic, user=alice, prompt="a usage page cache-hit idea")
    assert [run.cache_hit for run in AgentRun.objects.order_by("pk")] == [False, True]
    client.force_login(alice)
    response = client.get("/usage/")
    usage = response.context["usage"]
    assert usage.cache_hit_rate == 50.0
    (budget,) = usage.budgets
    assert budget.name == "daily" and budget.limit == 100_000 and budget.used > 0
    assert "of your daily budget of 100000 tokens" in response.content.decode()


def test_the_period_switch(client, alice, platform_gateway):
    run_agent(agent=GENERATOR, user=alice, prompt="today")
    old = run_agent(agent=GENERATOR, user=alice, prompt="older").run
    AgentRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=20))
    rollup_rebuild()
    client.force_login(alice)
    assert client.get("/usage/").context["usage"].runs == 1
    assert client.get("/usage/?days=30").context["usage"].runs == 2
    assert client.get("/usage/?days=30").context["usage"].runs_by_provider["ai_gateway"][-21] == 1
    assert client.get("/usage/?days=90").context["days"] == 90
    assert client.get("/usage/?days=1000").context["days"] == 7  # not a period: the default
    assert client.get("/usage/?days=abc").status_code == 200


def test_usage_needs_a_login(client):
    response = client.get("/usage/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_rollup_kept_as_runs_finish_equals_a_rebuild(alice, platform_gateway, openai_fake, alice_openai):
    run_agent(agent=GENERATOR, user=alice, prompt="a")
    platform_gateway.fail(503, times=None)
    run_agent(agent=GENERATOR, user=alice, prompt="b")  # falls back to alice's OpenAI
    kept = _rollup_rows()
    assert sum(row[4] for row in kept) == 2
    assert AgentRunDaily.objects.filter(provider="openai").get().fallbacks == 1
    rollup_rebuild()
    assert _rollup_rows() == kept


def test_failed_runs_count_as_failed(alice, platform_gateway):
    from agents.exceptions import NoModelAvailable

    # The only candidate fails, its retry too: the run ends with NoModelAvailable, one fallback.
    platform_gateway.fail(503, times=None)
    with pytest.raises(NoModelAvailable):
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    usage = usage_for(user=alice, days=7)
    assert (usage.runs, usage.failed, usage.fallbacks) == (1, 1, 1)


def test_quantiles_from_buckets():
    counts = [0] * 11
    counts[2] = 50  # <= 1000 ms
    counts[5] = 49  # <= 8000 ms
    counts[10] = 1  # slower than 120 s
    assert quantile_ms(counts, 0.5) == 1000
    assert quantile_ms(counts, 0.9) == 8000
    assert quantile_ms(counts, 0.995) is None
    assert quantile_ms([0] * 11, 0.5) is None


def test_the_admin_dashboard_is_for_staff_and_ranks_users(client, admin_client, alice, bob, platform_gateway):
    for _ in range(2):
        run_agent(agent=GENERATOR, user=bob, prompt="a longer prompt for more tokens " * 5)
    run_agent(agent=GENERATOR, user=alice, prompt="short")
    index = admin_client.get("/admin/").content.decode()
    assert "/admin/agents/agentrun/dashboard/" in index
    response = admin_client.get("/admin/agents/agentrun/dashboard/?days=30")
    assert response.status_code == 200
    assert response.context["usage"].runs == 3
    assert [row["user__username"] for row in response.context["top_users"]] == ["bob", "alice"]
    assert not re.search(r"\sstyle\s*=", response.content.decode())
    client.force_login(alice)
    assert client.get("/admin/agents/agentrun/dashboard/").status_code == 302  # to the admin login


def test_the_admin_run_list_shows_a_bounded_window(admin_client, alice):
    recent = AgentRun.objects.create(
        user=alice,
        agent="idea_generator",
        tier="fast",
        provider="openai",
        status=RunStatus.SUCCEEDED,
        input_tokens=1,
        output_tokens=1,
    )
    old = AgentRun.objects.create(
        user=alice,
        agent="idea_generator",
        tier="fast",
        provider="gemini",
        status=RunStatus.SUCCEEDED,
        input_tokens=1,
        output_tokens=1,
    )
    AgentRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    response = admin_client.get("/admin/agents/agentrun/")
    assert [r.pk for r in response.context_data["cl"].result_list] == [recent.pk]
    assert [row["provider"] for row in response.context_data["provider_totals"]] == ["openai"]
    everything = admin_client.get("/admin/agents/agentrun/?period=all")
    assert {r.pk for r in everything.context_data["cl"].result_list} == {recent.pk, old.pk}
    assert admin_client.get("/admin/agents/agentrun/?period=30&q=gemini").status_code == 200


def test_the_admin_search_matches_users_models_and_request_ids_never_prompts(admin_client, alice, bob):
    mine = AgentRun.objects.create(
        user=alice,
        agent="idea_generator",
        tier="fast",
        provider="openai",
        model_id="gpt-4o-mini",
        prompt="secret plans about zeppelins",
        request_id="req-abcdef123456",
    )
    AgentRun.objects.create(user=bob, agent="idea_critic", tier="fast", provider="gemini", model_id="gemini-flash")

    def found(term: str) -> set[int]:
        response = admin_client.get("/admin/agents/agentrun/", {"q": term})
        return {r.pk for r in response.context_data["cl"].result_list}

    assert found("ali") == {mine.pk}
    assert found("gpt-4o") == {mine.pk}
    assert found("req-abcdef123456") == {mine.pk}
    assert found("idea_critic") == found("gemini") != {mine.pk}
    assert found("zeppelins") == set()


def test_the_rollup_command_fills_in_older_runs(alice):
    import io

    from django.core.management import call_command

    AgentRun.objects.create(
        user=alice,
        agent="idea_generator",
        tier="fast",
        provider="openai",
        model_id="m",
        status=RunStatus.SUCCEEDED,
        input_tokens=7,
        output_tokens=9,
        latency_ms=600,
    )
    AgentRunDaily.objects.all().delete()  # as if written before the roll-up existed
    out = io.StringIO()
    call_command("agents_usage_rollup", stdout=out)
    assert "1 roll-up row(s) written" in out.getvalue()
    row = AgentRunDaily.objects.get()
    assert (row.runs, row.input_tokens, row.output_tokens, row.lat_2) == (1, 7, 9, 1)
    call_command("agents_usage_rollup", "--days", "7", stdout=io.StringIO())
    assert AgentRunDaily.objects.get().runs == 1  # idempotent


def test_charts_and_tables_name_providers_by_display_name(client, admin_client, alice, platform_gateway):
    run_agent(agent=GENERATOR, user=alice, prompt="an idea")
    AgentRunDaily.objects.create(day=timezone.localdate(), user=alice, provider="", model_id="", runs=1, failed=1)
    client.force_login(alice)
    for page in (client.get("/usage/"), admin_client.get("/admin/agents/agentrun/dashboard/")):
        html = page.content.decode()
        legend = re.search(r'<ul class="legend">(.*?)</ul>', html).group(1)
        assert "AI Gateway (service account)" in legend and "(none answered)" in legend
        assert "ai_gateway" not in legend
        assert '<th scope="col">AI Gateway (service account)</th>' in html  # the per-day table
        assert '<th scope="row">AI Gateway (service account)</th><td>sim-fast</td>' in html  # latency
        assert ">ai_gateway<" not in html and "ai_gateway:" not in html  # nor in a bar's <title>


def test_the_rollup_counts_cache_hits_as_runs_finish_and_when_rebuilt(alice):
    """The usage pages' cache hit rate comes from the roll-up, not from a scan of the runs."""
    for hit in (True, False, False, False):
        run = AgentRun.objects.create(user=alice, agent="idea_critic", tier="fast", provider="openai", model_id="m")
        run.status, run.cache_hit = RunStatus.SUCCEEDED, hit
        run.save()  # completes the run: counted once
    assert AgentRunDaily.objects.get().cache_hits == 1
    assert usage_for(user=alice, days=7).cache_hit_rate == 25.0
    AgentRunDaily.objects.all().delete()
    rollup_rebuild()
    assert AgentRunDaily.objects.get().cache_hits == 1
    assert usage_for(user=None, days=7).cache_hit_rate == 25.0


def test_a_finished_run_adds_to_its_days_row_and_no_other(alice, bob):
    """The roll-up's prepared UPDATE (agents.rollup._increment) adds to exactly its key's row."""

    def finish(user, model_id: str, latency_ms: int, tokens: int, status=RunStatus.SUCCEEDED) -> None:
        run = AgentRun.objects.create(user=user, agent="idea_critic", tier="fast", provider="openai", model_id=model_id)
        run.status, run.latency_ms, run.input_tokens, run.output_tokens = status, latency_ms, tokens, 2 * tokens
        run.fallbacks = [{"provider": "anthropic"}] if status == RunStatus.FAILED else []
        run.save()

    finish(alice, "m-1", 100, 10)  # creates alice's m-1 row
    finish(bob, "m-1", 100, 1)  # another user: another row
    finish(alice, "m-2", 100, 1)  # another model: another row
    finish(alice, "m-1", 3000, 5, status=RunStatus.FAILED)  # adds to alice's m-1 row
    finish(alice, "m-1", 200, 7)
    row = AgentRunDaily.objects.get(user=alice, model_id="m-1")
    assert (row.runs, row.failed, row.fallbacks, row.input_tokens, row.output_tokens) == (3, 1, 1, 22, 44)
    assert (row.lat_0, row.lat_4) == (2, 1)
    assert AgentRunDaily.objects.get(user=bob).runs == 1
    assert AgentRunDaily.objects.get(user=alice, model_id="m-2").runs == 1
    before = _rollup_rows()
    AgentRunDaily.objects.all().delete()
    rollup_rebuild()
    rebuilt = _rollup_rows()
    assert rebuilt == before  # fallbacks are not rebuilt, and are not among the compared columns


def test_a_row_created_by_another_process_meanwhile_is_added_to(alice, monkeypatch):
    """The roll-up's race: the UPDATE finds no row, another process creates it, the INSERT then
    fails on the unique key; the run is added to that row, not lost."""
    from agents import rollup

    def finish() -> None:
        run = AgentRun.objects.create(user=alice, agent="idea_critic", tier="fast", provider="openai", model_id="m")
        run.status, run.latency_ms, run.input_tokens, run.output_tokens = RunStatus.SUCCEEDED, 100, 3, 4
        run.save()

    finish()  # the other process's row
    real = rollup._increment
    calls = []

    def missed_once(key, values):
        calls.append(key)
        return False if len(calls) == 1 else real(key, values)

    monkeypatch.setattr(rollup, "_increment", missed_once)
    finish()
    assert len(calls) == 2  # the first UPDATE "missed", the INSERT failed, the second UPDATE added
    row = AgentRunDaily.objects.get()
    assert (row.runs, row.input_tokens, row.output_tokens) == (2, 6, 8)
