"""The gateway's own rate-limit signals, read from its answers' headers for whoever listens.

OpenAI-compatible gateways send `x-ratelimit-remaining-requests` / `-tokens` and
`x-ratelimit-reset-requests` / `-tokens` ("1s", "6m0s", "20ms") with each answer. When a window is
spent (remaining 0), the next request would be refused with a 429: `observe()` tells the
listeners (the agents app holds that credential back until the reset, `agents.limits`) so that
the runner falls back before the gateway has to refuse. The gateway package knows nothing of
the agents app: listeners register here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimitSignal:
    """One answer's rate-limit headers, for the credential (`cred:<pk>` / `platform:<provider>`)."""

    credential_key: str
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None
    #: The model the answered request named ("" when unknown): limits are per (credential, model).
    model_id: str = ""

    @property
    def spent_for(self) -> float | None:
        """Seconds until the gateway accepts requests again when a window is spent, else None."""
        waits = [
            reset if reset is not None else 1.0
            for remaining, reset in (
                (self.remaining_requests, self.reset_requests),
                (self.remaining_tokens, self.reset_tokens),
            )
            if remaining is not None and remaining <= 0
        ]
        return max(waits) if waits else None


def parse_duration(value: str | None) -> float | None:
    """Seconds in "6m0s", "1.5s", "20ms" or a plain number of seconds; None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read(headers: Mapping[str, str], credential_key: str, model_id: str = "") -> RateLimitSignal | None:
    """The signal in an answer's headers, or None when it sends none."""
    remaining_requests = _int(headers.get("x-ratelimit-remaining-requests"))
    remaining_tokens = _int(headers.get("x-ratelimit-remaining-tokens"))
    if remaining_requests is None and remaining_tokens is None:
        return None
    return RateLimitSignal(
        credential_key,
        remaining_requests,
        remaining_tokens,
        parse_duration(headers.get("x-ratelimit-reset-requests")),
        parse_duration(headers.get("x-ratelimit-reset-tokens")),
        model_id,
    )


Listener = Callable[[RateLimitSignal], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Call `listener` with every signal (idempotent: a listener is registered once)."""
    if listener not in _listeners:
        _listeners.append(listener)


def _request_model(request: Any) -> str:
    """The `model` of an OpenAI-style JSON request body ("" when there is none to read)."""
    try:
        body = json.loads(request.content)
    except Exception:  # no body, a streamed body, not JSON
        return ""
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def observe(headers: Mapping[str, str], *, credential_id: int | None, provider: str, request: Any = None) -> None:
    """Read an answer's headers and tell the listeners. Never raises (a listener's bug is logged)."""
    if not _listeners or (
        "x-ratelimit-remaining-requests" not in headers and "x-ratelimit-remaining-tokens" not in headers
    ):
        return
    key = f"cred:{credential_id}" if credential_id is not None else f"platform:{provider}"
    signal = read(headers, key, _request_model(request) if request is not None else "")
    if signal is None:
        return
    for listener in list(_listeners):
        try:
            listener(signal)
        except Exception:
            logger.exception("rate limit signal listener failed")
