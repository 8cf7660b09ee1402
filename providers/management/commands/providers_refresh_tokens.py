"""`manage.py providers_refresh_tokens [--dry-run] [--margin S]`: refresh gateway tokens now.

The synchronous twin of the Celery beat task (same service, `providers.services.tokens`): every
active gateway credential whose token is not cached or expires within the margin is refreshed.
Prints one line per credential (key, owner, client id hint, outcome), never a secret. Exits
non-zero when a refresh failed.

Without Redis (`REDIS_URL`), tokens live in each process's memory, so this command only warms its
own process: useful for checking credentials, not for warming the web workers.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.gateway.refresh import RefreshAction, prerefresh_margin
from providers.services.tokens import token_refresh_all


def _left(seconds: float | None) -> str:
    return "no token cached" if seconds is None else f"expires in {seconds:.0f} s"


class Command(BaseCommand):
    help = "Refresh AI Gateway tokens of active credentials (user and platform) that are missing or about to expire."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would be refreshed; request no token.")
        parser.add_argument(
            "--margin",
            type=float,
            default=None,
            help="Refresh tokens expiring within this many seconds (default: PROVIDERS_TOKEN_REFRESH_MARGIN).",
        )

    def handle(self, *args: Any, dry_run: bool = False, margin: float | None = None, **options: Any) -> None:
        margin = prerefresh_margin() if margin is None else margin
        results = token_refresh_all(margin=margin, dry_run=dry_run)
        prefix = "[dry run] " if dry_run else ""
        if not results:
            self.stdout.write(f"{prefix}No active AI Gateway credentials.")
            return
        for r in results:
            line = f"{prefix}{r.action:<14} {r.key:<22} {r.label}: {_left(r.expires_in)}"
            if r.error:
                self.stderr.write(self.style.ERROR(f"{line}: {r.error}"))
            elif r.action in (RefreshAction.REFRESHED, RefreshAction.WOULD_REFRESH):
                self.stdout.write(self.style.SUCCESS(line))
            else:
                self.stdout.write(line)
        counts: dict[str, int] = {}
        for r in results:
            counts[r.action] = counts.get(r.action, 0) + 1
        summary = ", ".join(f"{n} {action}" for action, n in counts.items())
        self.stdout.write(f"{prefix}{len(results)} credential(s), margin {margin:.0f} s: {summary}.")
        failed = counts.get(RefreshAction.FAILED, 0)
        if failed:
            raise CommandError(f"{failed} gateway token refresh(es) failed; see the lines above.")
