"""The daily roll-up of finished runs (`AgentRunDaily`), kept as runs finish.

A receiver of AgentRun's post_save counts a run once, when its record is completed (the
runner saves a finished run once: `agents.services._Loop._save`); an increment by F()
expressions, so concurrent runs add up. `rollup_rebuild` recomputes days from the runs
(`manage.py agents_usage_rollup`), for records written before the roll-up existed.
"""

from __future__ import annotations

import bisect
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from .models import LATENCY_BUCKETS_MS, AgentRun, AgentRunDaily, RunStatus


def latency_bucket(latency_ms: int | None) -> int:
    return bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms or 0)


def _add(key: dict[str, Any], values: dict[str, int]) -> None:
    increments = {name: F(name) + value for name, value in values.items()}
    if AgentRunDaily.objects.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            AgentRunDaily.objects.create(**key, **values)
    except IntegrityError:  # another process created the row meanwhile: add to it
        AgentRunDaily.objects.filter(**key).update(**increments)


@receiver(post_save, sender=AgentRun, dispatch_uid="agents.rollup.count_finished_run")
def count_finished_run(sender: type[AgentRun], instance: AgentRun, created: bool, **kwargs: Any) -> None:
    if created or instance.status == RunStatus.RUNNING or kwargs.get("raw"):
        return
    key = {
        "day": timezone.localdate(instance.created_at),
        "user_id": instance.user_id,
        "provider": instance.provider,
        "model_id": instance.model_id,
        "latency_bucket": latency_bucket(instance.latency_ms),
    }
    _add(
        key,
        {
            "runs": 1,
            "failed": int(instance.status == RunStatus.FAILED),
            "fallbacks": len(instance.fallbacks or []),
            "input_tokens": instance.input_tokens or 0,
            "output_tokens": instance.output_tokens or 0,
        },
    )


def rollup_rebuild(*, since: date | None = None) -> int:
    """Recompute the roll-up from the finished runs (from `since`, else all); returns rows written.

    Fallback counts are left at 0 for rebuilt rows: they sit in a JSON list per run, which
    the database cannot sum portably."""
    runs = AgentRun.objects.exclude(status=RunStatus.RUNNING)
    days = AgentRunDaily.objects.all()
    if since is not None:
        runs = runs.filter(created_at__date__gte=since)
        days = days.filter(day__gte=since)
    whens = [Q(lat__lte=bound) for bound in LATENCY_BUCKETS_MS]
    bucket = Case(
        *(When(cond, then=Value(i)) for i, cond in enumerate(whens)),
        default=Value(len(LATENCY_BUCKETS_MS)),
        output_field=IntegerField(),
    )
    grouped = (
        runs.order_by()
        .annotate(lat=Coalesce("latency_ms", 0))
        .annotate(d=TruncDate("created_at"), b=bucket)
        .values("d", "user_id", "provider", "model_id", "b")
        .annotate(
            n=Count("id"),
            f=Count("id", filter=Q(status=RunStatus.FAILED)),
            i=Sum("input_tokens"),
            o=Sum("output_tokens"),
        )
    )
    rows = [
        AgentRunDaily(
            day=g["d"],
            user_id=g["user_id"],
            provider=g["provider"],
            model_id=g["model_id"],
            latency_bucket=g["b"],
            runs=g["n"],
            failed=g["f"],
            input_tokens=g["i"] or 0,
            output_tokens=g["o"] or 0,
        )
        for g in grouped.iterator(chunk_size=5000)
    ]
    with transaction.atomic():
        days.delete()
        AgentRunDaily.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
