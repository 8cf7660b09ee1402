"""A chat-completion event stream, decoded into the items both gateway clients yield.

`StreamState` is one attempt at a stream: it turns SSE lines into `choices[0].delta` dicts
(with `finish_reason` added on the chunk that has one) and a final `{"usage": ...}`, and tracks
whether any part of the answer reached the caller, which decides whether the stream may still be
retried. `set_idle_timeout` makes the read timeout the bound on silence between two chunks.
The sync and async clients only differ in how they wait for lines.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ..conf import app_settings
from ..exceptions import StreamError
from ..http.errors import display_name, oauth2_error_code, provider_error_detail
from ..redaction import redact
from .sse import ServerSentEvent, SSEDecoder


def set_idle_timeout(response: httpx.Response, deadline: float) -> None:
    """Bound the silence between two chunks of `response` by `PROVIDERS_STREAM_IDLE_TIMEOUT`
    (and by what is left until `deadline`), once its headers have arrived."""
    # httpcore reads the body's read timeout from the request's extensions when the body is
    # first iterated (httpcore/_sync/http11.py `_receive_response_body`), so lowering it here,
    # after the headers arrived, makes it the bound on silence between chunks, while the first
    # byte keeps the ordinary read timeout.
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        timeouts["read"] = max(0.001, min(float(app_settings.STREAM_IDLE_TIMEOUT), deadline - time.monotonic()))


def _meaningful(item: dict[str, Any]) -> bool:
    """A delta that carries part of the answer; a bare role announcement does not (so a stream
    cut right after it can still be retried transparently)."""
    return any(value for key, value in item.items() if key != "role")


class StreamState:
    """Turns SSE events into the items we yield; tracks whether the caller got anything."""

    __slots__ = ("decoder", "done", "provider", "remote_text", "yielded")

    def __init__(self, provider: str, *, remote_text: bool = True) -> None:
        self.decoder = SSEDecoder()
        #: True once an item carrying part of the answer was handed out: no retry after that.
        self.yielded = False
        #: True once `data: [DONE]` arrived.
        self.done = False
        self.provider = provider
        #: False for a URL a user set: its error events' text is never repeated (providers.http.errors).
        self.remote_text = remote_text

    def error(self, message: str, reason: str, status_code: int | None = None) -> StreamError:
        return StreamError(
            message, delta_yielded=self.yielded, reason=reason, provider=self.provider, status_code=status_code
        )

    def items(self, event: ServerSentEvent) -> list[dict[str, Any]]:
        """The items one event carries (none for `[DONE]`); raises `StreamError` for an error
        event or a chunk that is not a chat-completion chunk."""
        if event.data == "[DONE]":
            self.done = True
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            if event.event == "error":
                detail = f": {redact(event.data)}" if self.remote_text else ""
                raise self.error(f"{display_name(self.provider)} sent an error event{detail}", "error_event") from None
            raise self.error(f"{self.provider} sent a stream chunk that is not JSON", "incomplete") from None
        if not isinstance(payload, dict):
            raise self.error(f"{self.provider} sent a stream chunk in an unknown shape", "incomplete")
        if event.event == "error" or payload.get("error"):
            raw = event.data.encode()
            detail = provider_error_detail(raw) if self.remote_text else oauth2_error_code(raw)
            raise self.error(
                f"{display_name(self.provider)} reported an error mid-stream{': ' + detail if detail else ''}",
                "error_event",
            )
        out: list[dict[str, Any]] = []
        for choice in payload.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = dict(choice.get("delta") or {})
            if choice.get("finish_reason"):
                delta["finish_reason"] = choice["finish_reason"]
            if delta:
                out.append(delta)
        if payload.get("usage"):
            out.append({"usage": payload["usage"]})
        return out

    def feed(self, line: str) -> list[dict[str, Any]] | None:
        """The items one SSE line completes (None while an event is still being read), marking
        the stream as having reached the caller when one carries part of the answer (the items
        are yielded right after, with nothing in between that could fail)."""
        event = self.decoder.feed(line)
        if event is None:
            return None
        items = self.items(event)
        self.yielded = self.yielded or any(_meaningful(item) for item in items)
        return items

    def check_deadline(self, deadline: float) -> None:
        """Raise `StreamError` once the call's total time bound has passed."""
        if time.monotonic() > deadline:
            raise self.error(f"{self.provider} stream exceeded the total time bound", "deadline")

    def transport_error(self, exc: Exception) -> StreamError:
        """The `StreamError` for a transport failure while reading the body (idle or cut)."""
        if isinstance(exc, httpx.TimeoutException):
            return self.error(f"{self.provider} went silent mid-stream (idle timeout)", "idle")
        # Our words only: the transport's text carries errno values and class names.
        return self.error(f"{display_name(self.provider)} cut the stream", "cut")

    def finished(self) -> None:
        """Raise `StreamError` when the body ended without `[DONE]`."""
        if not self.done:
            raise self.error(f"{self.provider} ended the stream without [DONE]", "incomplete")
