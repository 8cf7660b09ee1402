"""Hook points for metrics: Django signals the limits and the response cache send, one per event.

Nothing here counts anything: a metrics module connects receivers (a receiver's failure is its
own: signals are sent with `send`, so keep receivers cheap and safe). With no receiver a send
costs well under a microsecond.

- `rate_limit_refused(sender=None, kind=..., user_id=..., credential_key=...)`: `kind` is "user"
  (the user's rate limit: the run did not start), "budget" (a token budget), or "credential"
  (a candidate over its credential's or model's limit, skipped for the next one).
- `response_cache_lookup(sender=None, agent=..., hit=...)`: one per run of an agent whose
  answers are cached (not for a fresh answer, which reads nothing).
"""

from __future__ import annotations

from django.dispatch import Signal

rate_limit_refused = Signal()
response_cache_lookup = Signal()
