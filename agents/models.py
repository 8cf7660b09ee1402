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
    output = models.TextField(blank=True, default="", help_text="The answer as shown to the user (structured answers rendered).")

    # The candidate that answered (or was being tried when the run failed).
    provider = models.CharField(max_length=32, blank=True, default="")
    model_id = models.CharField(max_length=200, blank=True, default="")
    credential_source = models.CharField(max_length=16, blank=True, default="", help_text="user or platform")
    credential_key = models.CharField(max_length=64, blank=True, default="", help_text="cred:<id> or platform:<provider>; never a secret.")
    # [{"provider": ..., "model": ..., "source": ..., "reason": ...}] for every candidate left before the answer.
    fallbacks = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    streamed = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="", help_text="Sanitized; never contains a secret.")
    cache_hit = models.BooleanField(default=False, help_text="Answered from the response cache: no provider call, no tokens.")

    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The Forge page's history: a user's newest runs.
            models.Index(fields=["user", "-created_at"], name="agents_run_user_recent"),
            # Admin filters and per-provider totals.
            models.Index(fields=["provider", "status"], name="agents_run_provider_status"),
            models.Index(fields=["agent", "-created_at"], name="agents_run_agent_recent"),
            models.Index(fields=["created_at"], name="agents_run_created"),
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


def _validate_limit(value: str) -> None:
    from django.core.exceptions import ValidationError

    from ideaforge.ratelimit import parse

    if value in ("", UNLIMITED):
        return
    try:
        parse(value)
    except ValueError:
        raise ValidationError(
            f"{value!r} is not a rate limit: use `limits` notation with full unit names, e.g. \"30/minute\" "
            f"or \"30/minute;500/day\", or \"{UNLIMITED}\"."
        ) from None


#: A per-user override meaning "no limit at all" (an empty field means "the settings' default").
UNLIMITED = "unlimited"


class UsageLimits(models.Model):
    """An operator's per-user overrides of the agents' limits and budgets (edited in the admin).

    An empty field (or None) takes the default from settings; "unlimited" removes the limit.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_limits")
    rate_limit = models.CharField(max_length=100, blank=True, default="", validators=[_validate_limit],
                                  help_text='Agent runs, e.g. "30/minute" (empty: AGENTS_USER_RATE_LIMIT; "unlimited").')
    token_limit = models.CharField(max_length=100, blank=True, default="", validators=[_validate_limit],
                                   help_text='Tokens, e.g. "100000/hour" (empty: AGENTS_USER_TOKEN_LIMIT; "unlimited").')
    daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True,
                                                        help_text="Tokens per day (UTC); empty: AGENTS_DAILY_TOKEN_BUDGET; 0: no budget.")
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True,
                                                          help_text="Tokens per calendar month (UTC); empty: AGENTS_MONTHLY_TOKEN_BUDGET; 0: no budget.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "usage limits"
        verbose_name_plural = "usage limits"

    def __str__(self) -> str:
        return f"usage limits of {self.user}"
