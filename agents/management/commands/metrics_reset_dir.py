"""`manage.py metrics_reset_dir`: empty PROMETHEUS_MULTIPROC_DIR before the workers start.

Run it once per deployment start, before gunicorn/uvicorn and the Celery workers (see
docs/operations.md): files left by an earlier run would add their counts to the new ones.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.conf import app_settings
from agents.metrics_export import reset_multiproc_dir


class Command(BaseCommand):
    help = "Empty the Prometheus multiprocess directory (PROMETHEUS_MULTIPROC_DIR) before the workers start."

    def handle(self, *args: Any, **options: Any) -> None:
        directory = app_settings.PROMETHEUS_MULTIPROC_DIR
        if not directory:
            raise CommandError("PROMETHEUS_MULTIPROC_DIR is not set: nothing to reset (single-process metrics).")
        removed = reset_multiproc_dir(directory)
        self.stdout.write(f"{directory}: {removed} file(s) removed.")
