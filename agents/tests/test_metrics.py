"""/metrics: who may scrape it, and the exact series after real runs against the simulators."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.breaker import breaker_open
from agents.catalog import AGENTS
from agents.exceptions import NoModelAvailable
from agents.services import run_agent, stream_agent

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="ops-password-123", is_staff=True)


@pytest.fixture
def scrape(client, staff):
    """{(name, frozenset(labels)): value} from GET /metrics as a staff user."""
    client.force_login(staff)

    def get() -> dict[tuple[str, frozenset], float]:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return get


def series(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


def delta(before: dict, after: dict, key: tuple[str, frozenset]) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


# -- access --------------------------------------------------------------------------------------


def test_anonymous_and_non_staff_get_404(client, alice):
    assert client.get("/metrics").status_code == 404
    client.force_login(alice)
    assert client.get("/metrics").status_code == 404


def test_bearer_token_scrapes_and_a_wrong_one_gets_404(client, settings):
    settings.METRICS_TOKEN = "metrics-token-canary-0042"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-canary-0042").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-canary-0043").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic metrics-token-canary-0042").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_no_token_configured_means_no_bearer_access(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 404


def test_staff_session_scrapes(client, staff):
    client.force_login(staff)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"# TYPE ideaforge_agent_runs_total counter" in response.content


# -- series after real runs ------------------------------------------------------------------------


def test_a_run_on_the_platform_gateway_counts_exactly(alice, platform_gateway, scrape):
    before = scrape()
    result = run_agent(agent=GENERATOR, user=alice, prompt="bicycles for cities")
    after = scrape()
    run = result.run
    labels = {"agent": "idea_generator", "tier": "fast", "provider": "ai_gateway", "model": "sim-fast"}
    assert delta(before, after, series("ideaforge_agent_runs_total", **labels, outcome="succeeded")) == 1
    pm = {"provider": "ai_gateway", "model": "sim-fast"}
    assert delta(before, after, series("ideaforge_agent_run_duration_seconds_count", **pm)) == 1
    assert delta(before, after, series("ideaforge_agent_tokens_total", **pm, direction="in")) == run.input_tokens
    assert delta(before, after, series("ideaforge_agent_tokens_total", **pm, direction="out")) == run.output_tokens
    # Not streamed: no first token reached a caller before the whole answer.
    assert delta(before, after, series("ideaforge_agent_time_to_first_token_seconds_count", **pm)) == 0
    # One token request to the gateway's token endpoint, and its token is now cached.
    assert delta(before, after, series("ideaforge_token_fetches_total", provider="ai_gateway", outcome="ok")) == 1
    assert after[series("ideaforge_gateway_token_present", credential="platform:ai_gateway")] == 1
    left = after[series("ideaforge_gateway_token_expires_in_seconds", credential="platform:ai_gateway")]
    assert 3000 < left <= 3600
    assert (
        after[series("ideaforge_breaker_open", credential="platform:ai_gateway", provider="ai_gateway", model="")] == 0
    )


def test_a_streamed_run_observes_time_to_first_token(alice, platform_gateway, scrape):
    before = scrape()
    events = list(stream_agent(agent=GENERATOR, user=alice, prompt="streamed"))
    assert events[-1].__class__.__name__ == "Done"
    after = scrape()
    pm = {"provider": "ai_gateway", "model": "sim-fast"}
    assert delta(before, after, series("ideaforge_agent_time_to_first_token_seconds_count", **pm)) == 1
    assert delta(before, after, series("ideaforge_agent_run_duration_seconds_count", **pm)) == 1


def test_a_fallback_is_counted_by_reason_and_the_breaker_shows_open(
    alice, platform_gateway, openai_fake, alice_openai, scrape
):
    platform_gateway.fail(503, times=None)
    # A breaker opens after AGENTS_BREAKER_FAILURES (3 in tests) failed runs, not one: two first.
    for _ in range(2):
        run_agent(agent=GENERATOR, user=alice, prompt="solar kiosks")
    before = scrape()
    gateway_fast = series(
        "ideaforge_breaker_open", credential="platform:ai_gateway", provider="ai_gateway", model="sim-fast"
    )
    assert before.get(gateway_fast, 0) == 0
    run_agent(agent=GENERATOR, user=alice, prompt="solar kiosks")
    after = scrape()
    fallback = series("ideaforge_agent_fallbacks_total", provider="ai_gateway", model="sim-fast", reason="server_error")
    assert delta(before, after, fallback) == 1
    answered = series(
        "ideaforge_agent_runs_total",
        agent="idea_generator",
        tier="fast",
        provider="openai",
        model="gpt-fast",
        outcome="succeeded",
    )
    assert delta(before, after, answered) == 1
    assert (
        after[series("ideaforge_breaker_open", credential="platform:ai_gateway", provider="ai_gateway", model="")] == 1
    )
    assert after[gateway_fast] == 1  # the series of that (credential, model) breaker
    own = series("ideaforge_breaker_open", credential=f"cred:{alice_openai.pk}", provider="openai", model="")
    assert after[own] == 0
    assert not [k for k in after if k[0] == "ideaforge_breaker_open" and ("model", "gpt-fast") in k[1]]


def test_no_model_available_is_its_own_outcome(alice, platform_gateway, scrape):
    # The only candidate fails, then its retry: nothing left (an open breaker would be tried anyway).
    platform_gateway.fail(503, times=None)
    before = scrape()
    with pytest.raises(NoModelAvailable):
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    after = scrape()
    key = series(
        "ideaforge_agent_runs_total",
        agent="idea_generator",
        tier="fast",
        provider="",
        model="",
        outcome="no_model_available",
    )
    assert delta(before, after, key) == 1
    left = series("ideaforge_agent_fallbacks_total", provider="ai_gateway", model="sim-fast", reason="server_error")
    assert delta(before, after, left) == 1


def test_a_candidate_skipped_for_its_open_breaker_is_counted_as_circuit_open(
    alice, platform_gateway, openai_fake, alice_openai, scrape
):
    breaker_open("platform:ai_gateway", "sim-fast", seconds=30)  # tried first when closed
    before = scrape()
    result = run_agent(agent=GENERATOR, user=alice, prompt="x")
    after = scrape()
    assert result.run.provider == "openai"
    skipped = series("ideaforge_agent_fallbacks_total", provider="ai_gateway", model="sim-fast", reason="circuit_open")
    assert delta(before, after, skipped) == 1


def test_verify_outcomes_and_refresh_task_results_are_counted(alice, platform_gateway, gateway2, alice_gateway, scrape):
    from providers.services.credentials import credential_verify
    from providers.tasks import refresh_gateway_token

    before = scrape()
    assert credential_verify(credential=alice_gateway).ok
    assert refresh_gateway_token(f"cred:{alice_gateway.pk}") in {"refreshed", "fresh"}
    after_ok = scrape()
    assert (
        delta(
            before,
            after_ok,
            series("ideaforge_credential_verifications_total", provider="ai_gateway", outcome="verified"),
        )
        == 1
    )
    refreshed = sum(
        delta(before, after_ok, series("ideaforge_token_refresh_tasks_total", result=r)) for r in ("refreshed", "fresh")
    )
    assert refreshed == 1


def test_secrets_never_reach_the_scrape(client, staff, alice, platform_gateway, openai_fake, alice_openai):
    run_agent(agent=GENERATOR, user=alice, prompt="canary prompt text 0xfeed")
    client.force_login(staff)
    text = client.get("/metrics").content.decode()
    for secret in (platform_gateway.client_secret, openai_fake.valid_key, "canary prompt text"):
        assert secret not in text
    assert 'user="' not in text and f'"{alice.username}"' not in text  # no user label, no user name as a value


# -- several processes ---------------------------------------------------------------------------


def test_counts_of_several_processes_are_summed(tmp_path, client, staff, settings):
    """Two worker processes count runs into PROMETHEUS_MULTIPROC_DIR; one scrape sums them."""
    code = (
        "from agents.metrics import RUNS\n"
        "RUNS.labels('idea_generator', 'fast', 'ai_gateway', 'sim-fast', 'succeeded').inc()\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60, cwd=ROOT)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    client.force_login(staff)
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").content.decode())}
    (sample,) = [s for s in families["ideaforge_agent_runs"].samples if s.name == "ideaforge_agent_runs_total"]
    assert sample.value == 2
    assert sample.labels == {
        "agent": "idea_generator",
        "tier": "fast",
        "provider": "ai_gateway",
        "model": "sim-fast",
        "outcome": "succeeded",
    }


def test_metrics_reset_dir_empties_the_directory(tmp_path, settings):
    from django.core.management import call_command

    (tmp_path / "counter_123.db").write_bytes(b"x")
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    call_command("metrics_reset_dir")
    assert list(tmp_path.iterdir()) == []
