"""Run records: one row per agent run, written by `agents.services` (never by views or agents).

A record names the candidate that answered (provider, model, credential source and key, never
a secret), every candidate tried before it with the reason it was left, timings and token
usage, and a sanitized error. Users see their own; operators see all of them in admin.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from providers import registry
from providers.exceptions import UnknownProvider


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    #: Refused before it started: the user's rate limit or budget was spent (agents.limits).
    RATE_LIMITED = "rate_limited", "Rate limited"


class AgentRun(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_runs")
    agent = models.CharField(max_length=64, help_text="The agent's name in agents.catalog.")
    tier = models.CharField(max_length=16)
    prompt = models.TextField(blank=True, default="")
    output = models.TextField(
        blank=True, default="", help_text="The answer as shown to the user (structured answers rendered)."
    )

    # The candidate that answered (or was being tried when the run failed).
    provider = models.CharField(max_length=32, blank=True, default="")
    model_id = models.CharField(max_length=200, blank=True, default="")
    credential_source = models.CharField(max_length=16, blank=True, default="", help_text="user or platform")
    credential_key = models.CharField(
        max_length=64, blank=True, default="", help_text="cred:<id> or platform:<provider>; never a secret."
    )
    # [{"provider": ..., "model": ..., "source": ..., "reason": ...}] for every candidate left before the answer.
    fallbacks = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    streamed = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="", help_text="Sanitized; never contains a secret.")
    cache_hit = models.BooleanField(
        default=False, help_text="Answered from the response cache: no provider call, no tokens."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The request that started the run (X-Request-ID): find its log lines. Set by agents.request_ids.
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The Forge page's history: a user's newest runs.
            models.Index(fields=["user", "-created_at"], name="agents_run_user_recent"),
            # Admin filters (provider, status) within its date window (bench/usage_bench.py).
            models.Index(fields=["provider", "status", "created_at"], name="agents_run_provider_status_at"),
            models.Index(fields=["agent", "-created_at"], name="agents_run_agent_recent"),
            # The admin search (agents.run_search): a model id prefix's distinct ids, then their runs
            # in the date window; a request id.
            models.Index(fields=["model_id", "-created_at"], name="agents_run_model_recent"),
            models.Index(fields=["request_id"], name="agents_run_request_id"),
            # The admin's date window and its per-provider totals, read from the index alone.
            models.Index(
                fields=["created_at", "provider", "status", "input_tokens", "output_tokens", "latency_ms"],
                name="agents_run_created_totals",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in RunStatus]), name="agents_run_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} ({self.tier}) by {self.user_id}: {self.status}"

    @property
    def answered_by(self) -> str:
        return f"{self.provider} · {self.model_id}" if self.provider else ""

    @property
    def provider_name(self) -> str:
        """The provider's human name ("AI Gateway (service account)"), or its id if unregistered."""
        try:
            return registry.get(self.provider).name if self.provider else ""
        except UnknownProvider:
            return self.provider


#: Upper bounds (ms) of the latency buckets the daily roll-up counts runs in; the last is open.
LATENCY_BUCKETS_MS = (250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000, 120000)
#: The roll-up's bucket columns: lat_0 (<= 250 ms) ... lat_10 (slower than 120 s).
LATENCY_COLUMNS = tuple(f"lat_{i}" for i in range(len(LATENCY_BUCKETS_MS) + 1))


class AgentRunDaily(models.Model):
    """Finished runs counted per day, user, provider and model (`agents.rollup`).

    The usage page and the admin dashboard read this instead of every run, so they cost the same
    with a thousand runs or a million. Latency percentiles come from the bucket columns (to the
    bucket's upper bound, as Prometheus' histogram_quantile does). Rebuilt from the runs by
    `manage.py agents_usage_rollup`."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=32, blank=True, default="")
    model_id = models.CharField(max_length=200, blank=True, default="")
    runs = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0, help_text="Candidates left before the answer, summed.")
    cache_hits = models.PositiveIntegerField(default=0, help_text="Runs answered from the response cache.")
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    lat_0 = models.PositiveIntegerField(default=0)
    lat_1 = models.PositiveIntegerField(default=0)
    lat_2 = models.PositiveIntegerField(default=0)
    lat_3 = models.PositiveIntegerField(default=0)
    lat_4 = models.PositiveIntegerField(default=0)
    lat_5 = models.PositiveIntegerField(default=0)
    lat_6 = models.PositiveIntegerField(default=0)
    lat_7 = models.PositiveIntegerField(default=0)
    lat_8 = models.PositiveIntegerField(default=0)
    lat_9 = models.PositiveIntegerField(default=0)
    lat_10 = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "provider", "model_id"], name="agents_daily_one_row_per_key"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "day"], name="agents_daily_user_day"),
            models.Index(fields=["day"], name="agents_daily_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id} {self.provider}/{self.model_id}: {self.runs}"


def _validate_limit(value: str) -> None:
    from django.core.exceptions import ValidationError

    from ideaforge.ratelimit import parse

    if value in ("", UNLIMITED):
        return
    try:
        parse(value)
    except ValueError:
        raise ValidationError(
            f'{value!r} is not a rate limit: use `limits` notation with full unit names, e.g. "30/minute" '
            f'or "30/minute;500/day", or "{UNLIMITED}".'
        ) from None


#: A per-user override meaning "no limit at all" (an empty field means "the settings' default").
UNLIMITED = "unlimited"


class UsageLimits(models.Model):
    """An operator's per-user overrides of the agents' limits and budgets (edited in the admin).

    An empty field (or None) takes the default from settings; "unlimited" removes the limit.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_limits")
    rate_limit = models.CharField(
        max_length=100,
        blank=True,
        default="",
        validators=[_validate_limit],
        help_text='Agent runs, e.g. "30/minute" (empty: AGENTS_USER_RATE_LIMIT; "unlimited").',
    )
    token_limit = models.CharField(
        max_length=100,
        blank=True,
        default="",
        validators=[_validate_limit],
        help_text='Tokens, e.g. "100000/hour" (empty: AGENTS_USER_TOKEN_LIMIT; "unlimited").',
    )
    daily_token_budget = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Tokens per day (UTC); empty: AGENTS_DAILY_TOKEN_BUDGET; 0: no budget."
    )
    monthly_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Tokens per calendar month (UTC); empty: AGENTS_MONTHLY_TOKEN_BUDGET; 0: no budget.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "usage limits"
        verbose_name_plural = "usage limits"

    def __str__(self) -> str:
        return f"usage limits of {self.user}"
