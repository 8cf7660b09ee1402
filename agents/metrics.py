"""Run-side Prometheus metrics: their one definition, and `record_run`, the one call the run
loop makes when a run ends (agents/services.py, `_Loop.finish`).

Labels stay low-cardinality: agent, tier, provider, model, outcome, a bucketed reason; never a
user, a credential secret or a prompt. Recording costs a few microseconds (bench/agents_bench.py
measures it; the budget is 20 µs per run). States (breaker open, token expiry) are read at
scrape time by `agents.metrics_export`, not kept here.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from prometheus_client import Counter, Histogram

# Only prometheus_client here (no Django models): worker processes and the bench import it bare.


# Seconds: answers take from a fraction of a second (cached, fast models) to minutes.
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0)
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

RUNS = Counter(
    "ideaforge_agent_runs",
    "Agent runs that ended, by outcome (succeeded, failed, no_model_available, refused, interrupted, abandoned).",
    ["agent", "tier", "provider", "model", "outcome"],
)
RUN_LATENCY = Histogram(
    "ideaforge_agent_run_duration_seconds",
    "Wall time of a run, start to end (fallbacks included).",
    ["provider", "model"],
    buckets=_LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "ideaforge_agent_time_to_first_token_seconds",
    "Time from the start of a run to the first piece of the answer reaching the caller.",
    ["provider", "model"],
    buckets=_TTFT_BUCKETS,
)
TOKENS = Counter(
    "ideaforge_agent_tokens",
    "Tokens reported by the provider, by direction (in = prompt, out = completion).",
    ["provider", "model", "direction"],
)
FALLBACKS = Counter(
    "ideaforge_agent_fallbacks",
    "Candidates left for the next one, by bucketed reason.",
    ["provider", "model", "reason"],
)
# Defined now so dashboards and alerts can be written; incremented by the features that own them.
RESPONSE_CACHE = Counter(
    "ideaforge_response_cache",
    "Response cache lookups, by result (hit, miss). Stays at 0 until the response cache (issue 10) lands.",
    ["result"],
)
RATE_LIMIT_REFUSALS = Counter(
    "ideaforge_rate_limit_refusals",
    "Requests refused by IdeaForge's own rate limits, by scope (which limit refused).",
    ["scope"],
)

# The run's outcome label from its error's code (agents.exceptions); anything else is "failed".
_OUTCOME_BY_CODE = {
    "no_model_available": "no_model_available",
    "request_refused": "refused",
    "stream_interrupted": "interrupted",
    "abandoned": "abandoned",
}


def fallback_reason(reason: str) -> str:
    """A fallback's free-text reason (redacted, for people) as one of a few label values."""
    text = reason.lower()
    if text.startswith("circuit "):  # open, or half-open with another request probing it
        return "circuit_open"
    if "429" in text or "rate limit" in text:
        return "rate_limited"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if text.startswith("http 5"):
        return "server_error"
    if text.startswith("http 4"):
        return "client_error"
    if "connect" in text or "unreachable" in text or "refused" in text:
        return "unreachable"
    return "other"


def run_outcome(end: Any) -> str:
    """`end` is the run's last event: `Done` (no `error`) or `Failed`."""
    error = getattr(end, "error", None)
    if error is None:
        return "succeeded"
    return _OUTCOME_BY_CODE.get(getattr(error, "code", ""), "failed")


def record_run(loop: Any, end: Any) -> None:
    """Count one finished run. `loop` is agents.services._Loop (read only); never raises."""
    with contextlib.suppress(Exception):  # metrics must never break a run
        _record(loop, end)


def _record(loop: Any, end: Any) -> None:
    attempt = loop.attempt
    provider, model = (attempt.candidate.provider, attempt.candidate.model_id) if attempt else ("", "")
    RUNS.labels(loop.agent.name, loop.tier, provider, model, run_outcome(end)).inc()
    RUN_LATENCY.labels(provider, model).observe(time.perf_counter() - loop.started)
    if loop.first_token_at is not None:
        TIME_TO_FIRST_TOKEN.labels(provider, model).observe(loop.first_token_at - loop.started)
    if getattr(end, "error", None) is None:
        metrics = getattr(loop.output, "metrics", None)
        tokens_in, tokens_out = getattr(metrics, "input_tokens", None), getattr(metrics, "output_tokens", None)
        if tokens_in:
            TOKENS.labels(provider, model, "in").inc(tokens_in)
        if tokens_out:
            TOKENS.labels(provider, model, "out").inc(tokens_out)
    for tried in loop.tried:
        FALLBACKS.labels(
            tried.get("provider", ""), tried.get("model", ""), fallback_reason(tried.get("reason", ""))
        ).inc()
