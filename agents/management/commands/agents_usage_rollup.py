"""`manage.py agents_usage_rollup [--days N]`: rebuild the daily usage roll-up from the run records.

Runs finishing from now on are counted as they finish; this fills in records written before the
roll-up existed (after the migration), or repairs days after a restore. Idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from agents.rollup import rollup_rebuild


class Command(BaseCommand):
    help = "Rebuild the daily usage roll-up (usage page, admin dashboard) from the agent run records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Only the last N days (default: every run).")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        since = timezone.localdate() - dt.timedelta(days=days - 1) if days else None
        rows = rollup_rebuild(since=since)
        self.stdout.write(f"{rows} roll-up row(s) written{f' for the last {days} days' if days else ''}.")
