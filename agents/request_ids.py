"""A new run record takes the current request's id (providers/context.py), so an operator can go
from a run in the admin to every log line of it (`LOG_FORMAT=json` carries the same id).

A pre_save receiver for records made with `save()`/`create()`; the runner writes its records
with `agents.records.run_insert`, which sends no signal, so it passes `current_request_id()`.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_save
from django.dispatch import receiver

from providers.context import current_request_id

from .models import AgentRun


@receiver(pre_save, sender=AgentRun, dispatch_uid="agents.request_ids.stamp_run")
def stamp_run(sender: type[AgentRun], instance: AgentRun, **kwargs: Any) -> None:
    if instance.pk is None and not instance.request_id and not kwargs.get("raw"):
        instance.request_id = current_request_id()
