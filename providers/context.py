"""Who is acting, from where, in which request: a context variable set per request.

`RequestContextMiddleware` (providers/middleware.py) sets it; the audit trail reads the actor
and the client address from it, log lines and run records the request id. Outside a request
(Celery tasks, management commands) it is empty: the audit trail then says "the system" unless
the command sets an operator with `acting_as`.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: An incoming X-Request-ID is kept only when it looks like an id (no spaces, quotes or control
#: characters that could forge log lines), else a fresh one is made.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    request: Any = None  # the HttpRequest (its user is resolved lazily, after authentication)
    ip: str | None = None
    operator_label: str = ""  # a management command acting for an operator


# RequestContext is frozen: a shared default cannot be mutated.
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("ideaforge_request", default=RequestContext())  # noqa: B039


def current() -> RequestContext:
    return _current.get()


def current_request_id() -> str:
    return _current.get().request_id


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when well-formed, else a new one."""
    if header and REQUEST_ID_PATTERN.fullmatch(header):
        return header
    return uuid.uuid4().hex


def enter(context: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(context)


def leave(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)


@contextmanager
def acting_as(label: str) -> Iterator[None]:
    """Attribute audited changes to an operator at the shell (`manage.py ...`)."""
    token = _current.set(RequestContext(request_id=uuid.uuid4().hex, operator_label=label))
    try:
        yield
    finally:
        _current.reset(token)
