"""The Celery application, shaped as in Celery's Django example (`examples/django/proj/celery.py`).

Configuration comes from Django settings under the `CELERY_` namespace (`CELERY_BROKER_URL`,
`CELERY_BEAT_SCHEDULE`, ...); tasks are found in each installed app's `tasks.py`.
Run a worker with `celery -A ideaforge worker` and the scheduler with `celery -A ideaforge beat`.
Celery is optional at run time: without a worker, gateway tokens refresh on demand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")

app = Celery("ideaforge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def add_token_refresh_schedule(sender: Celery, **kwargs: Any) -> None:
    """Gateway token pre-refresh every `PROVIDERS_TOKEN_REFRESH_INTERVAL` seconds.

    Added here, once the configuration is loaded, rather than in settings.CELERY_BEAT_SCHEDULE:
    the interval's default lives in providers/conf.py, which settings.py cannot read.
    """
    from django.conf import settings

    from providers.conf import app_settings

    # Beat's schedule file under the state dir, not the working directory (the repository).
    state_dir = Path(settings.BASE_DIR) / app_settings.STATE_DIR  # an absolute STATE_DIR wins
    state_dir.mkdir(parents=True, exist_ok=True)
    sender.conf.beat_schedule_filename = str(state_dir / "celerybeat-schedule")
    interval = float(app_settings.TOKEN_REFRESH_INTERVAL)
    sender.add_periodic_task(
        interval,
        sender.signature("providers.refresh_gateway_tokens"),
        name="providers-refresh-gateway-tokens",
        # A run that could not start before the next one is due is useless: drop it.
        expires=interval,
    )


@worker_process_shutdown.connect
def forget_dead_worker_metrics(pid: int | None = None, **kwargs: Any) -> None:
    """Prometheus multiprocess mode: drop a prefork child's live gauges when it exits."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
