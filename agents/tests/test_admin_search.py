"""The admin run list's search (agents.run_search) and its capped count (agents.capped_paginator):
the right runs found through either query form, the wrong ones not, "10,000+" past the cap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agents import admin as agents_admin
from agents import capped_paginator, run_search
from agents.models import AgentRun, RunStatus
from agents.run_search import _next_string, model_ids_with_prefix, search_runs

pytestmark = pytest.mark.django_db

LIST = "/admin/agents/agentrun/"


def _run(user, **fields) -> AgentRun:
    defaults = {"agent": "idea_generator", "tier": "fast", "provider": "openai", "model_id": "gpt-4o-mini"}
    defaults.update(fields)
    return AgentRun.objects.create(user=user, status=RunStatus.SUCCEEDED, **defaults)


@pytest.fixture
def cap(monkeypatch):
    """A count cap of 3, everywhere it is read."""
    for module in (capped_paginator, run_search, agents_admin):
        monkeypatch.setattr(module, "COUNT_CAP", 3)
    return 3


@pytest.fixture
def runs(alice, bob):
    return {
        "alice_gpt": _run(alice, request_id="req-alice-000001", prompt="zeppelin plans"),
        "alice_claude": _run(alice, provider="anthropic", model_id="claude-haiku", agent="idea_critic"),
        "bob_gemini": _run(bob, provider="gemini", model_id="gemini-flash", agent="concept_brief"),
        "bob_gpt_upper": _run(bob, model_id="GPT-5", request_id="req-bob-0000002"),
    }


def _found(client, term: str, **params) -> set[int]:
    response = client.get(LIST, {"q": term, **params})
    assert response.status_code == 200
    return {run.pk for run in response.context_data["cl"].result_list}


def _ids(runs, *names: str) -> set[int]:
    return {runs[name].pk for name in names}


def test_each_kind_of_term_finds_its_runs_and_only_them(admin_client, runs):
    assert _found(admin_client, "lic") == _ids(runs, "alice_gpt", "alice_claude")  # user name part
    assert _found(admin_client, "idea_critic") == _ids(runs, "alice_claude")  # agent, exactly
    assert _found(admin_client, "anthropic") == _ids(runs, "alice_claude")  # provider, exactly
    assert _found(admin_client, "gpt") == _ids(runs, "alice_gpt")  # model prefix, case-sensitive
    assert _found(admin_client, "GPT") == _ids(runs, "bob_gpt_upper")
    assert _found(admin_client, "gemini") == _ids(runs, "bob_gemini")  # provider and model prefix
    assert _found(admin_client, "req-bob-0000002") == _ids(runs, "bob_gpt_upper")  # request id, exactly
    # Never a prompt, never the middle of a model id or a request id, never a partial agent name.
    for term in ("zeppelin", "4o-mini", "req-alice", "idea_", "anthrop", "nobody"):
        assert _found(admin_client, term) == set(), term


def test_like_wildcards_in_a_term_are_literal(admin_client, runs, alice):
    underscore = _run(alice, model_id="gpt_x")
    assert _found(admin_client, "gpt_") == {underscore.pk}
    assert _found(admin_client, "g%") == set()


def test_search_keeps_the_filters_and_the_date_window(admin_client, runs):
    old = runs["alice_gpt"]
    AgentRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    assert _found(admin_client, "req-alice-000001") == set()  # outside the default 7 days
    assert _found(admin_client, "req-alice-000001", period="30") == {old.pk}
    assert _found(admin_client, "lic", provider__exact="anthropic") == _ids(runs, "alice_claude")


def test_both_query_forms_find_the_same_runs(runs):
    for term in ("lic", "gpt", "gemini", "idea_critic", "req-bob-0000002", "nobody", "b"):
        search = search_runs(runs=AgentRun.objects.all(), term=term)
        assert search is not None
        by_index, by_window = set(search.by_index.values_list("pk", flat=True)), set(search.by_window)
        assert by_index == {run.pk for run in by_window}, term
        assert search.count == len(by_index), term
    assert search_runs(runs=AgentRun.objects.all(), term="  ") is None


def test_few_matches_are_read_through_the_indexes_many_by_the_window(cap, alice):
    few = [_run(alice, model_id="claude-haiku") for _ in range(2)]
    many = [_run(alice) for _ in range(cap + 2)]
    sparse = search_runs(runs=AgentRun.objects.all(), term="claude")
    assert sparse.count == 2 and sparse.best is sparse.by_index
    assert {run.pk for run in sparse.best} == {run.pk for run in few}
    dense = search_runs(runs=AgentRun.objects.all(), term="gpt")
    assert dense.count == cap + 1 and dense.best is dense.by_window
    assert {run.pk for run in dense.best} == {run.pk for run in many}


def test_the_list_shows_a_capped_count_and_skips_totals_past_it(cap, admin_client, alice):
    for _ in range(cap + 2):
        _run(alice)
    _run(alice, model_id="claude-haiku")
    searched = admin_client.get(LIST, {"q": "gpt"})
    page = searched.content.decode()
    assert '<span id="search-count">3+</span>' in page and '<span id="run-count">3+</span>' in page
    assert 'id="provider-totals-skipped"' in page and "provider_totals" not in searched.context_data
    assert len(searched.context_data["cl"].result_list) == cap + 2  # every match still listed
    few = admin_client.get(LIST, {"q": "claude"})
    assert '<span id="search-count">1</span>' in few.content.decode()
    assert [row["runs"] for row in few.context_data["provider_totals"]] == [1]
    plain = admin_client.get(LIST)  # no search: capped count, totals over the whole window
    assert '<span id="run-count">3+</span>' in plain.content.decode()
    assert sum(row["runs"] for row in plain.context_data["provider_totals"]) == cap + 3


def test_model_ids_with_prefix_are_distinct_bounded_and_exact(monkeypatch, alice):
    for model in ("gpt-4o", "gpt-4o", "gpt-5", "gpu-x", "gps", "agpt", "GPT-9"):
        _run(alice, model_id=model)
    assert model_ids_with_prefix("gpt") == ["gpt-4o", "gpt-5"]
    assert model_ids_with_prefix("gpt-4o") == ["gpt-4o"]
    assert model_ids_with_prefix("zzz") == []
    monkeypatch.setattr(run_search, "MAX_MODELS", 1)
    assert model_ids_with_prefix("gp") == ["gps"]


def test_next_string_bounds_every_string_with_the_prefix():
    assert _next_string("gpt") == "gpu"
    assert _next_string("a\U0010ffff") == "b"
    assert _next_string("\U0010ffff") is None
