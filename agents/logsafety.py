"""Keep secrets out of Agno's log lines.

Agno logs provider errors verbatim (`"API status error from OpenAI API: Error code: 401 - ..."`),
and a provider may echo the key it was sent. Our own messages are redacted where they are made;
Agno's are not ours to change, so a filter on Agno's loggers rewrites them with
`providers.redaction.scrub`: it removes the exact secrets of every credential a run is currently
using (registered by the runner while the run is in flight) and credential-shaped fragments.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from providers.redaction import scrub

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


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        with _lock:
            live = list(_live)
        cleaned = scrub(message, secrets=live)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Attach the filter to Agno's loggers (idempotent; called from AgentsConfig.ready())."""
    for name in AGNO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
