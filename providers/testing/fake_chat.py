"""Chat endpoints for the public providers' fakes, in each provider's real wire format.

Extends `providers.testing.fake_providers` (FakeOpenAI / FakeAnthropic / FakeGemini: key checks
and model lists) with chat, so real Agno models (`OpenAIChat`, `Claude`, `Gemini`) run against
them over HTTP:

* OpenAI: `POST /v1/chat/completions`, JSON and SSE: the gateway simulator's chat
  (`gateway_chat.ChatMixin`), reused as is.
* Anthropic: `POST /v1/messages` (also `?beta=true`), JSON, or an SSE event stream
  `message_start`, `content_block_start`, `content_block_delta`..., `content_block_stop`,
  `message_delta` (stop reason and output usage), `message_stop`.
* Gemini: `POST /v1/models/{id}:generateContent` and `:streamGenerateContent?alt=sse` (google-genai
  with a custom base URL uses API version `v1`; `v1beta` is accepted too).

Replies are deterministic: `"Echo: <last user text>"` in word deltas, unless scripted with
`script_reply(content, usage=...)`. Usage numbers are `prompt_tokens`/`completion_tokens` in
the script (mapped to each provider's names). Faults: the inherited `inject(...)` (status, body,
delay... by path prefix) and `stream_fault(...)` (first-byte delay, cut or error after N chunks).
Every chat request body is kept in `chat_bodies`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .fake_providers import (
    FakeAnthropic,
    FakeAnthropicHandler,
    FakeGemini,
    FakeGeminiHandler,
    FakeOpenAI,
    FakeOpenAIHandler,
)
from .gateway_chat import ChatMixin, ChatScript, Reply, StreamFault, _split, _text


def _usage(reply: Reply, prompt_text: str, text: str) -> tuple[int, int]:
    if reply.usage:
        prompt = reply.usage.get("prompt_tokens", reply.usage.get("input_tokens", 0))
        completion = reply.usage.get("completion_tokens", reply.usage.get("output_tokens", 0))
        return int(prompt), int(completion)
    return len(prompt_text.split()) + 3, len(text.split())


class _ChatFakeMixin(ChatScript):
    """Server side shared by the three fakes: scripts, recorded bodies, counters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        ChatScript.__init__(self)
        # ChatScript.__init__ does not chain; continue with the fake server's own __init__.
        super(ChatScript, self).__init__(*args, **kwargs)
        self.chat_counts: dict[str, int] = {}

    def _count(self, name: str) -> None:
        with self.lock:
            self.chat_counts[name] = self.chat_counts.get(name, 0) + 1

    def counter(self, name: str) -> int:
        """`chat` (answered chat requests) and `stream` (of which streamed)."""
        with self.lock:
            return self.chat_counts.get(name, 0)

    @property
    def chat_requests(self) -> int:
        return self.counter("chat")


class _ChatHandlerBase(ChatMixin):
    """Handler helpers shared by the Anthropic and Gemini chat routes (request bodies; the SSE
    start, `_start_sse`, is ChatMixin's)."""

    def _read_chat_json(self, raw: bytes) -> dict[str, Any] | None:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None


# --- OpenAI ------------------------------------------------------------------------------------


class OpenAIChatHandler(ChatMixin, FakeOpenAIHandler):
    # ChatMixin.chat_completions(body) is the gateway simulator's chat, unchanged.
    routes = {**FakeOpenAIHandler.routes, ("POST", "/v1/chat/completions"): "chat_completions"}


class FakeOpenAIChat(_ChatFakeMixin, FakeOpenAI):
    """FakeOpenAI plus `/v1/chat/completions` (the gateway simulator's chat, same scripts)."""

    handler_class = OpenAIChatHandler


# --- Anthropic ---------------------------------------------------------------------------------


def _anthropic_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return _text(content)


class AnthropicChatHandler(_ChatHandlerBase, FakeAnthropicHandler):
    routes = {**FakeAnthropicHandler.routes, ("POST", "/v1/messages"): "messages"}

    def messages(self, raw: bytes) -> None:
        body = self._read_chat_json(raw)
        if body is None or not body.get("messages") or not body.get("max_tokens"):
            self._anthropic_error(400, "invalid_request_error", "messages and max_tokens are required")
            return
        if body.get("model") not in self.sim.models:
            self._anthropic_error(404, "not_found_error", f"model: {body.get('model')}")
            return
        sim = self.sim
        sim._count("chat")
        message_id = sim._record_chat(body).replace("chatcmpl-sim", "msg_fake")
        reply = sim._next_reply() or Reply()
        last_user = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {})
        text = reply.content if reply.content is not None else "Echo: " + _anthropic_text(last_user.get("content"))
        prompt_text = " ".join(_anthropic_text(m.get("content")) for m in body["messages"])
        input_tokens, output_tokens = _usage(reply, prompt_text, text)
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
        if not body.get("stream"):
            self.send_json(200, message)
            return
        sim._count("stream")
        self._anthropic_stream(message, text)

    def _anthropic_stream(self, message: dict[str, Any], text: str) -> None:
        fault = self.sim._take_stream_fault() or StreamFault()
        self._start_sse(fault)
        start = dict(message, content=[], stop_reason=None, usage=dict(message["usage"], output_tokens=1))
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        events += [
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            for piece in _split(text)
        ]
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": message["usage"]["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        try:
            for sent, (name, payload) in enumerate(events):
                if fault.cut_after is not None and sent >= fault.cut_after:
                    self._cut()
                    return
                if fault.error_after is not None and sent >= fault.error_after:
                    error = {"type": "error", "error": {"type": "overloaded_error", "message": fault.error_message}}
                    self._chunk(b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n")
                    self._end()
                    return
                if sent and self.sim.chunk_delay:
                    time.sleep(self.sim.chunk_delay)
                self._chunk(f"event: {name}\ndata: ".encode() + json.dumps(payload).encode() + b"\n\n")
            self._end()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _anthropic_error(self, status: int, kind: str, message: str) -> None:
        self.send_json(status, {"type": "error", "error": {"type": kind, "message": message}})


class FakeAnthropicChat(_ChatFakeMixin, FakeAnthropic):
    """FakeAnthropic plus the Messages API (`POST /v1/messages`, JSON and SSE)."""

    handler_class = AnthropicChatHandler


# --- Gemini ------------------------------------------------------------------------------------


def _gemini_text(content: dict[str, Any]) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return " ".join(p.get("text", "") for p in parts or [] if isinstance(p, dict))


def _gemini_target(path: str) -> tuple[str, str] | None:
    """`/v1/models/{id}:generateContent` -> (id, "generateContent"); None for other paths."""
    prefix, _, rest = path.partition("/models/")
    model, _, method = rest.partition(":")
    if prefix in ("/v1", "/v1beta") and model and method in ("generateContent", "streamGenerateContent"):
        return model, method
    return None


class _GeminiRoutes(dict):
    """The base handler looks routes up by exact (method, path); Gemini's carry the model id."""

    def get(self, key: Any, default: Any = None) -> Any:
        method, path = key
        if method == "POST" and _gemini_target(path) is not None:
            return "generate_content"
        return super().get(key, default)


class GeminiChatHandler(_ChatHandlerBase, FakeGeminiHandler):
    routes = _GeminiRoutes(FakeGeminiHandler.routes)

    def generate_content(self, raw: bytes) -> None:
        target = _gemini_target(self.path_only)
        assert target is not None
        model, method = target
        body = self._read_chat_json(raw)
        if body is None or not body.get("contents"):
            self._gemini_error(400, "INVALID_ARGUMENT", "contents is required")
            return
        if model not in self.sim.models:
            self._gemini_error(404, "NOT_FOUND", f"models/{model} is not found")
            return
        sim = self.sim
        sim._count("chat")
        sim._record_chat(dict(body, model=model))
        reply = sim._next_reply() or Reply()
        last_user = next((c for c in reversed(body["contents"]) if c.get("role", "user") == "user"), {})
        text = reply.content if reply.content is not None else "Echo: " + _gemini_text(last_user)
        prompt_text = " ".join(_gemini_text(c) for c in body["contents"])
        prompt, completion = _usage(reply, prompt_text, text)
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}
        if method == "generateContent":
            self.send_json(200, self._gemini_response(model, text, "STOP", usage))
            return
        sim._count("stream")
        fault = sim._take_stream_fault() or StreamFault()
        self._start_sse(fault)
        pieces = _split(text)
        try:
            for sent, piece in enumerate(pieces):
                if fault.cut_after is not None and sent >= fault.cut_after:
                    self._cut()
                    return
                if fault.error_after is not None and sent >= fault.error_after:
                    error = {"error": {"code": 503, "message": fault.error_message, "status": "UNAVAILABLE"}}
                    self._chunk(b"data: " + json.dumps(error).encode() + b"\r\n\r\n")
                    self._end()
                    return
                if sent and sim.chunk_delay:
                    time.sleep(sim.chunk_delay)
                last = sent == len(pieces) - 1
                # Usage once, on the last chunk: Agno adds up every chunk's usage.
                chunk = self._gemini_response(model, piece, "STOP" if last else None, usage if last else None)
                self._chunk(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
            self._end()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    @staticmethod
    def _gemini_response(model: str, text: str, finish: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        response: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
        if usage:
            response["usageMetadata"] = usage
        return response

    def _gemini_error(self, status: int, kind: str, message: str) -> None:
        self.send_json(status, {"error": {"code": status, "message": message, "status": kind}})


class FakeGeminiChat(_ChatFakeMixin, FakeGemini):
    """FakeGemini plus `generateContent` / `streamGenerateContent` (alt=sse)."""

    handler_class = GeminiChatHandler
