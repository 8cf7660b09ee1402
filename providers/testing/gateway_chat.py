"""`POST /v1/chat/completions` for the gateway simulator: JSON and SSE, scripts and stream faults.

Default reply: a deterministic echo, `"Echo: <last user message>"`, split into word deltas; with
`canned = True` (the demo) a realistic answer per agent instead (see `canned.py`).
After a tool result (last message has role `tool`) the default is `"Tool result: <content>"`.
Scripted replies (`script_reply`, `script_tool_call`) are used in order, one per request.
With `response_format` `json_schema` the reply is a minimal valid instance of the schema (or
the scripted `json=`). SSE follows OpenAI's chunk format, ends with `data: [DONE]`, and sends a
final usage chunk when `stream_options.include_usage` is set.

Stream faults (`stream_fault`): a slow first byte, a stall of N seconds after K chunks, a
keep-alive trickle after K chunks (an SSE comment every `trickle_every` seconds for
`trickle_seconds`: the connection never goes idle, the answer never comes), a cut (connection
closed, no final chunk) after K chunks, an SSE `event: error` after K chunks, or padding comments
that make the stream as large as needed (`pad_each`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    content: str | None = None
    # [(name, arguments dict)] -> one tool call each, ids call_<n>.
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    json: Any = None
    usage: dict[str, int] | None = None


@dataclass
class StreamFault:
    first_byte_delay: float = 0.0
    stall_after: int | None = None
    stall_seconds: float = 0.0
    cut_after: int | None = None
    error_after: int | None = None
    error_message: str = "simulated stream failure"
    trickle_after: int | None = None
    trickle_seconds: float = 0.0
    trickle_every: float = 1.0
    # An SSE comment of this many bytes before every event (clients ignore it): a stream that
    # is valid but as large as the test needs, without a Content-Length.
    pad_each: int = 0
    times: int | None = 1


class ChatScript:
    """Server-side state for chat: scripted replies, stream faults, recorded request bodies."""

    def __init__(self) -> None:
        self._chat_lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._stream_faults: list[StreamFault] = []
        self.chat_bodies: list[dict[str, Any]] = []
        # Seconds between SSE chunks (0 = as fast as possible); a realistic stream uses ~0.01.
        self.chunk_delay = 0.0
        # Demo mode: realistic answers per agent (providers.testing.canned) instead of the echo.
        self.canned = False
        self._ids = 0
        #: SSE answers being sent now, and those the client closed before the end.
        self.streams_active = 0
        self.streams_aborted = 0
        # Rate-limit headers sent with every chat answer (`send_rate_limit_headers`); none by default.
        self.rate_limit_headers: dict[str, str] = {}

    def send_rate_limit_headers(
        self,
        *,
        remaining_requests: int | None = None,
        reset_requests: str | None = None,
        remaining_tokens: int | None = None,
        reset_tokens: str | None = None,
    ) -> None:
        """Answer chats with OpenAI-style `x-ratelimit-remaining-*` / `x-ratelimit-reset-*`
        headers (resets as OpenAI writes them: "1s", "6m0s", "20ms"); no arguments: none."""
        values = {
            "remaining-requests": remaining_requests,
            "reset-requests": reset_requests,
            "remaining-tokens": remaining_tokens,
            "reset-tokens": reset_tokens,
        }
        self.rate_limit_headers = {f"x-ratelimit-{k}": str(v) for k, v in values.items() if v is not None}

    def script_reply(
        self, content: str | None = None, *, json: Any = None, usage: dict[str, int] | None = None
    ) -> None:
        """Queue the next reply's text (or structured `json`), with optional usage numbers."""
        with self._chat_lock:
            self._replies.append(Reply(content=content, json=json, usage=usage))

    def script_tool_call(self, name: str, arguments: dict[str, Any], *, then: str | None = None) -> None:
        """Queue a reply that calls tool `name`; `then` is the answer to the request carrying
        the tool result (default: "Tool result: <content>")."""
        with self._chat_lock:
            self._replies.append(Reply(tool_calls=[(name, arguments)]))
            if then is not None:
                self._replies.append(Reply(content=then))

    def script_tool_calls(self, calls: list[tuple[str, dict[str, Any]]], *, then: str | None = None) -> None:
        """Several parallel tool calls in one reply."""
        with self._chat_lock:
            self._replies.append(Reply(tool_calls=list(calls)))
            if then is not None:
                self._replies.append(Reply(content=then))

    def stream_fault(self, **fields: Any) -> StreamFault:
        """Add a `StreamFault` for the next streamed response(s) (`times`, default 1)."""
        fault = StreamFault(**fields)
        with self._chat_lock:
            self._stream_faults.append(fault)
        return fault

    def clear_scripts(self) -> None:
        with self._chat_lock:
            self._replies.clear()
            self._stream_faults.clear()

    @property
    def last_chat_request(self) -> dict[str, Any] | None:
        with self._chat_lock:
            return self.chat_bodies[-1] if self.chat_bodies else None

    def _next_reply(self) -> Reply | None:
        with self._chat_lock:
            return self._replies.popleft() if self._replies else None

    def _take_stream_fault(self) -> StreamFault | None:
        with self._chat_lock:
            if not self._stream_faults:
                return None
            fault = self._stream_faults[0]
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._stream_faults.pop(0)
            return fault

    def _record_chat(self, body: dict[str, Any]) -> str:
        with self._chat_lock:
            self.chat_bodies.append(body)
            self._ids += 1
            return f"chatcmpl-sim-{self._ids}"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def schema_instance(schema: dict[str, Any]) -> Any:
    """A small value that satisfies a JSON schema (the subset structured output uses)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return schema_instance(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: schema_instance(sub) for name, sub in props.items()}
    if kind == "array":
        item = schema_instance(schema.get("items", {"type": "string"}))
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "string":
        return "sample" if not schema.get("minLength") else "s" * int(schema["minLength"])
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return None


def _split(text: str, parts: int = 0) -> list[str]:
    """Word deltas ("Echo:", " hello", " world"); JSON text in roughly equal pieces."""
    if parts:
        size = max(1, -(-len(text) // parts))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] or [""]


class ChatMixin:
    """Handler side; mixed into the gateway's request handler."""

    def chat_completions(self, raw: bytes) -> None:
        sim = self.sim  # type: ignore[attr-defined]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            self.send_json(
                400, {"error": {"message": "messages must be a non-empty list", "type": "invalid_request_error"}}
            )  # type: ignore[attr-defined]
            return
        model = body.get("model")
        if model not in sim.models:
            self.send_json(
                404,
                {
                    "error": {
                        "message": f"The model {model!r} does not exist",
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                },
            )  # type: ignore[attr-defined]
            return
        sim._count("chat")
        completion_id = sim._record_chat(body)
        reply = self._build_reply(body, sim._next_reply())
        if body.get("stream"):
            sim._count("stream")
            self._stream(body, completion_id, reply)
        else:
            self._json(body, completion_id, reply)

    def _build_reply(self, body: dict[str, Any], scripted: Reply | None) -> Reply:
        messages = body["messages"]
        fmt = body.get("response_format") or {}
        reply = scripted or Reply()
        if not reply.tool_calls and reply.content is None:
            if self.sim.canned:  # type: ignore[attr-defined]
                reply = self._canned(messages, fmt, reply)
            if reply.json is None and reply.content is None and fmt.get("type") == "json_schema":
                reply.json = schema_instance((fmt.get("json_schema") or {}).get("schema") or {})
            if reply.json is not None:
                reply.content = json.dumps(reply.json)
            elif reply.content is not None:  # canned
                pass
            elif messages[-1].get("role") == "tool":
                reply.content = "Tool result: " + _text(messages[-1].get("content"))
            elif fmt.get("type") == "json_object":
                reply.content = json.dumps({"echo": self._last_user(messages)})
            else:
                reply.content = "Echo: " + self._last_user(messages)
        if reply.usage is None:
            prompt = sum(len(_text(m.get("content")).split()) + 3 for m in messages)
            completion = len((reply.content or "").split()) + sum(
                len(json.dumps(a)) // 4 + 1 for _, a in reply.tool_calls
            )
            reply.usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return reply

    def _canned(self, messages: list[dict[str, Any]], fmt: dict[str, Any], reply: Reply) -> Reply:
        from .canned import canned_content, canned_json

        prompt = self._last_user(messages)
        if fmt.get("type") == "json_schema":
            reply.json = canned_json((fmt.get("json_schema") or {}).get("schema") or {}, prompt)
        elif messages[-1].get("role") != "tool":
            system = " ".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
            reply.content = canned_content(system, prompt)
        return reply

    def _start_sse(self, fault: StreamFault) -> None:
        """Headers of a chunked event stream, after the fault's first-byte delay (also used by
        the Anthropic and Gemini fakes in fake_chat.py)."""
        if fault.first_byte_delay:
            time.sleep(fault.first_byte_delay)
        self.send_response(200)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "text/event-stream")  # type: ignore[attr-defined]
        self.send_header("Cache-Control", "no-cache")  # type: ignore[attr-defined]
        self.send_header("Transfer-Encoding", "chunked")  # type: ignore[attr-defined]
        for name, value in getattr(self.sim, "rate_limit_headers", {}).items():  # type: ignore[attr-defined]
            self.send_header(name, value)  # type: ignore[attr-defined]
        self.end_headers()  # type: ignore[attr-defined]

    @staticmethod
    def _last_user(messages: list[dict[str, Any]]) -> str:
        for message in reversed(messages):
            if message.get("role") == "user":
                return _text(message.get("content"))
        return ""

    @staticmethod
    def _tool_call_objects(reply: Reply) -> list[dict[str, Any]]:
        return [
            {"id": f"call_{i + 1}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(reply.tool_calls)
        ]

    def _json(self, body: dict[str, Any], completion_id: str, reply: Reply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_calls else reply.content}
        if reply.tool_calls:
            message["tool_calls"] = self._tool_call_objects(reply)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
            ],
            "usage": reply.usage,
        }
        self.send_json(200, payload, headers=getattr(self.sim, "rate_limit_headers", None))  # type: ignore[attr-defined]

    def _deltas(self, reply: Reply) -> Iterator[tuple[dict[str, Any], str | None]]:
        """(delta, finish_reason) pairs; tool-call arguments arrive in fragments by index."""
        if reply.tool_calls:
            yield {"role": "assistant", "content": None}, None
            for index, call in enumerate(self._tool_call_objects(reply)):
                head = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                yield {"tool_calls": [head]}, None
                for fragment in _split(call["function"]["arguments"], parts=3):
                    yield {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}, None
            yield {}, "tool_calls"
            return
        yield {"role": "assistant", "content": ""}, None
        text = reply.content or ""
        pieces = _split(text, parts=4) if reply.json is not None else _split(text)
        for piece in pieces:
            yield {"content": piece}, None
        yield {}, "stop"

    def _stream(self, body: dict[str, Any], completion_id: str, reply: Reply) -> None:
        sim = self.sim  # type: ignore[attr-defined]
        fault = sim._take_stream_fault() or StreamFault()
        with sim._chat_lock:
            sim.streams_active += 1
        try:
            self._send_stream(body, completion_id, reply, fault)
        finally:
            with sim._chat_lock:
                sim.streams_active -= 1

    def _send_stream(self, body: dict[str, Any], completion_id: str, reply: Reply, fault: StreamFault) -> None:
        sim = self.sim  # type: ignore[attr-defined]
        self._start_sse(fault)
        base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        sent = 0
        try:
            for delta, finish in self._deltas(reply):
                if fault.cut_after is not None and sent >= fault.cut_after:
                    self._cut()
                    return
                if fault.error_after is not None and sent >= fault.error_after:
                    error = {"error": {"message": fault.error_message, "type": "server_error", "code": "stream_error"}}
                    self._chunk(b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n")
                    self._end()
                    return
                if fault.stall_after is not None and sent == fault.stall_after and fault.stall_seconds:
                    time.sleep(fault.stall_seconds)
                if fault.trickle_after is not None and sent == fault.trickle_after:
                    self._trickle(fault)
                if sent and sim.chunk_delay:
                    time.sleep(sim.chunk_delay)
                chunk = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
                if fault.pad_each:
                    self._chunk(b": " + b"x" * fault.pad_each + b"\n\n")
                self._event(chunk)
                sent += 1
            if (body.get("stream_options") or {}).get("include_usage"):
                self._event(dict(base, choices=[], usage=reply.usage))
            self._chunk(b"data: [DONE]\n\n")
            self._end()
        except (BrokenPipeError, ConnectionResetError):  # the client went away (idle timeout, cancel)
            self.close_connection = True  # type: ignore[attr-defined]
            with sim._chat_lock:
                sim.streams_aborted += 1

    def _trickle(self, fault: StreamFault) -> None:
        """Keep-alive comments, one every `trickle_every` s for `trickle_seconds` (a server that
        holds a stream open without answering)."""
        until = time.monotonic() + fault.trickle_seconds
        while time.monotonic() < until:
            self._chunk(b": keep-alive\n\n")
            time.sleep(max(0.0, min(fault.trickle_every, until - time.monotonic())))

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        wfile = self.wfile  # type: ignore[attr-defined]
        wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")  # type: ignore[attr-defined]
        self.wfile.flush()  # type: ignore[attr-defined]

    def _cut(self) -> None:
        """Drop the connection mid-body: the client sees an incomplete chunked message."""
        self.close_connection = True  # type: ignore[attr-defined]
        try:
            self.wfile.flush()  # type: ignore[attr-defined]
            self.connection.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
        except OSError:
            pass
