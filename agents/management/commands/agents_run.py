"""`manage.py agents_run AGENT "prompt" --user U [--tier T]`: stream an agent's answer to the terminal.

Ends with one summary line (provider, model, tier, tokens, latency, fallbacks). Exits non-zero
with a message naming every candidate tried when the run fails.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.catalog import AGENTS, agent_get
from agents.events import CandidateChosen, Delta, Done, Failed, FallbackTaken
from providers.tiers import TIERS


class Command(BaseCommand):
    help = "Run an IdeaForge agent for a user and stream its answer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("agent", choices=sorted(AGENTS), help="Which agent.")
        parser.add_argument("prompt", help="What the agent should work on.")
        parser.add_argument(
            "--user", required=True, help="Username whose providers are used (and who owns the run record)."
        )
        parser.add_argument("--tier", choices=TIERS, help="Model tier (default: the agent's own).")
        parser.add_argument("--no-cache", action="store_true", help="Ask the model even when a cached answer exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["user"]})
        except User.DoesNotExist:
            raise CommandError(f"No user {options['user']!r}.") from None
        agent = agent_get(options["agent"])
        verbose = options["verbosity"] >= 2
        for event in agent.stream(user, options["prompt"], tier=options["tier"], use_cache=not options["no_cache"]):
            if isinstance(event, Delta):
                self.stdout.write(event.text, ending="")
                self.stdout.flush()
            elif isinstance(event, CandidateChosen) and verbose:
                self.stderr.write(f"[{event.provider_name} · {event.model}, {event.tier} tier]")
            elif isinstance(event, FallbackTaken):
                self.stderr.write(f"[skipped {event.provider} {event.model}: {event.reason}]")
            elif isinstance(event, Done):
                run = event.run
                self.stdout.write("")
                self.stdout.write(
                    self.style.SUCCESS(
                        f"provider={run.provider} model={run.model_id} tier={run.tier} "
                        f"tokens={_n(run.input_tokens)} in/{_n(run.output_tokens)} out "
                        f"latency={run.latency_ms} ms first_token={_n(run.time_to_first_token_ms)} ms "
                        f"fallbacks={len(run.fallbacks)} run={run.pk}" + (" cache=hit" if run.cache_hit else "")
                    )
                )
            elif isinstance(event, Failed):
                self.stdout.write("")
                raise CommandError(f"{agent.name} failed: {event.message}")


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
