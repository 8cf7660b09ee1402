"""The admin's Provider health view: every credential (users' and the platform's) with its
status, last verification, gateway token expiry, breaker state and error rate over the last hour.

Reads only: the credentials, one grouped query over the last hour of runs (the created_at
index), the token states and the breaker states (cache). Never a secret.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from providers.models import ProviderCredential
from providers.selectors import platform_credentials
from providers.services.credentials import platform_verification
from providers.services.tokens import token_refresh_status

from .breaker import breakers_of
from .models import AgentRun, RunStatus

WINDOW = dt.timedelta(hours=1)
MAX_ROWS = 500


@dataclass
class CredentialHealth:
    key: str
    provider: str
    owner: str  # a user name, or "platform"
    status: str
    enabled: bool
    last_verified: Any  # datetime or ISO text (platform), or None
    last_error: str
    token_expires_in: int | None  # seconds; None: no cached token or not a gateway
    token_relevant: bool
    breaker: str  # the worst of its models': "open", "half-open", "closed" ("unknown": cache down)
    runs_last_hour: int = 0
    failed_last_hour: int = 0
    admin_change_url: str = ""
    #: {model id: state} of each of its breakers that has opened (agents.breaker's index).
    breaker_models: dict[str, str] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.failed_last_hour / self.runs_last_hour if self.runs_last_hour else None


def provider_health() -> list[CredentialHealth]:
    rows: list[CredentialHealth] = []
    for effective in platform_credentials():
        last = platform_verification(provider=effective.provider) or {}
        rows.append(
            CredentialHealth(
                key=effective.key,
                provider=effective.provider,
                owner="platform",
                status=last.get("outcome", "not verified"),
                enabled=True,
                last_verified=last.get("at"),
                last_error="" if last.get("outcome") == "verified" else last.get("message", ""),
                token_expires_in=None,
                token_relevant=False,
                breaker="closed",
            )
        )
    stored = ProviderCredential.objects.select_related("owner").order_by("provider", "owner__username")[:MAX_ROWS]
    for credential in stored:
        rows.append(
            CredentialHealth(
                key=f"cred:{credential.pk}",
                provider=credential.provider,
                owner=credential.owner.get_username(),
                status=credential.status,
                enabled=credential.enabled,
                last_verified=credential.last_checked_at,
                last_error=credential.last_error,
                token_expires_in=None,
                token_relevant=False,
                breaker="closed",
                admin_change_url=f"/admin/providers/providercredential/{credential.pk}/change/",
            )
        )
    try:
        tokens = {target.key: target.expires_in for target, _ in token_refresh_status()}
    except Exception:  # the token store (Redis) is down: show the rest
        tokens = {}
    try:
        breakers = breakers_of(row.key for row in rows)
    except Exception:
        breakers = {}
    since = timezone.now() - WINDOW
    runs = (
        AgentRun.objects.filter(created_at__gte=since)
        .exclude(credential_key="")
        .order_by()
        .values("credential_key")
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status=RunStatus.FAILED)))
    )
    per_key = {row["credential_key"]: row for row in runs}
    for row in rows:
        if row.key in tokens:
            row.token_relevant = True
            left = tokens[row.key]
            row.token_expires_in = None if left is None else int(left)
        found = breakers.get(row.key)
        row.breaker = "unknown" if found is None else found.state
        row.breaker_models = {} if found is None else found.models
        if row.key in per_key:
            row.runs_last_hour = per_key[row.key]["total"]
            row.failed_last_hour = per_key[row.key]["failed"]
    return rows
