"""Keep secrets out of Agno's log lines.

Agno logs provider errors verbatim (`"API status error from OpenAI API: Error code: 401 - ..."`),
and a provider may echo the key it was sent. Our own messages are sanitized where they are made;
Agno's are not ours to change, so a filter on Agno's loggers rewrites them: it removes the exact
secrets of every credential a run is currently using (registered by the runner while the run is
in flight) and credential-shaped fragments (Agno's own `redact_secrets`).
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

AGNO_LOGGERS = ("agno", "agno-team", "agno-workflow")

_lock = threading.Lock()
_live: Counter[str] = Counter()


def secrets_register(values: Iterable[str]) -> None:
    with _lock:
        _live.update(v for v in values if v)


def secrets_unregister(values: Iterable[str]) -> None:
    with _lock:
        for value in values:
            if value and _live[value] > 0:
                _live[value] -= 1
                if not _live[value]:
                    del _live[value]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` (longest first, so no tail of a longer one survives) and any
    credential-shaped fragment (Agno's `redact_secrets`) replaced by "[redacted]"."""
    from agno.exceptions import redact_secrets  # agno is imported lazily (0.35 s)

    for value in sorted((v for v in secrets if v), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return redact_secrets(text)


def redact(text: str) -> str:
    """`scrub` with the secrets of every run in flight."""
    with _lock:
        live = list(_live)
    return scrub(text, live)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Attach the filter to Agno's loggers (idempotent; called from AgentsConfig.ready())."""
    for name in AGNO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
