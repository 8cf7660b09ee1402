"""The Celery application, shaped as in Celery's Django example (`examples/django/proj/celery.py`).

Configuration comes from Django settings under the `CELERY_` namespace (`CELERY_BROKER_URL`,
`CELERY_BEAT_SCHEDULE`, ...); tasks are found in each installed app's `tasks.py`.
Run a worker with `celery -A ideaforge worker` and the scheduler with `celery -A ideaforge beat`.
Celery is optional at run time: without a worker, gateway tokens refresh on demand.
"""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")

app = Celery("ideaforge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
