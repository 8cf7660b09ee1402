"""`manage.py providers_gateway_simulator [--port N] [--chunk-delay-ms MS] [--answers canned|echo]`: a local AI Gateway, for trying the app out.

Serves the simulator the tests use (`providers.testing.gateway_simulator`: OAuth2 token
endpoint, `/v1/models`, `/v1/chat/completions` with JSON and SSE) in the foreground, and prints
the environment variables that point IdeaForge at it. `make demo` runs it for you. It accepts
only the client id and secret given here: they are not real credentials.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Run a local AI Gateway simulator (OAuth2 client credentials + OpenAI-compatible API) until Ctrl-C."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8765, help="Port on 127.0.0.1 (0: any free port). Default 8765."
        )
        parser.add_argument("--client-id", default="sim-client", help="Client id the token endpoint accepts.")
        parser.add_argument("--client-secret", default="sim-secret", help="Client secret the token endpoint accepts.")
        parser.add_argument("--token-lifetime", type=int, default=3600, help="expires_in of issued tokens, seconds.")
        parser.add_argument(
            "--chunk-delay-ms",
            type=int,
            default=30,
            help="Pause between streamed words, ms (default 30: a realistic pace; 0: as fast as possible).",
        )
        parser.add_argument(
            "--answers",
            choices=["canned", "echo"],
            default="canned",
            help="canned (default): realistic answers per agent; echo: 'Echo: <prompt>', as in the tests.",
        )

    def handle(
        self, *args: Any, port: int, client_id: str, client_secret: str, token_lifetime: int, **options: Any
    ) -> None:
        chunk_delay_ms = options.get("chunk_delay_ms", 30)
        if chunk_delay_ms < 0 or chunk_delay_ms > 5000:
            raise CommandError("--chunk-delay-ms must be between 0 and 5000.")
        from providers.testing.gateway_simulator import GatewaySimulator

        try:
            sim = GatewaySimulator(
                port, client_id=client_id, client_secret=client_secret, token_lifetime=token_lifetime
            )
        except OSError as exc:
            raise CommandError(f"Cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        sim.chunk_delay = chunk_delay_ms / 1000
        sim.canned = options.get("answers", "canned") == "canned"
        models = list(sim.models)
        lines = [
            "AI_GATEWAY_ENABLED=true",
            f"AI_GATEWAY_BASE_URL={sim.base_url}",
            f"AI_GATEWAY_TOKEN_URL={sim.token_url}",
            f"AI_GATEWAY_CLIENT_ID={client_id}",
            f"AI_GATEWAY_CLIENT_SECRET={client_secret}",
        ]
        if models:
            lines.append(f"AI_GATEWAY_DEFAULT_MODEL={models[min(1, len(models) - 1)]}")
        for tier, model in zip(("FAST", "STANDARD", "PREMIUM"), models, strict=False):
            lines.append(f"AI_GATEWAY_{tier}_MODEL={model}")
        # Stop on Ctrl-C and on SIGTERM (`kill`, a supervisor) alike. Installed explicitly: a shell
        # that starts a background job (`cmd &`) makes it ignore SIGINT, and Python then leaves
        # it ignored, so the simulator could not be stopped the way it says. Installed before
        # "Ctrl-C to stop." is printed: a signal sent as soon as that line is read must stop it.
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        try:
            self.stdout.write(
                f"AI Gateway simulator on {sim.url} (token lifetime {token_lifetime} s, "
                f"{chunk_delay_ms:g} ms between chunks, models: {', '.join(models)})."
            )
            self.stdout.write("Point IdeaForge at it with these environment variables (or run `make demo`):\n")
            for line in lines:
                self.stdout.write(f"  {line}")
            self.stdout.write("\nCtrl-C to stop.")
            self.stdout.flush()
            sim.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            sim.close()
        self.stdout.write(f"Simulator stopped after {sim.token_requests} token and {sim.api_requests} API request(s).")


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
