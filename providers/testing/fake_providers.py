"""Local stand-ins for the public providers' HTTP APIs (OpenAI, Anthropic, Gemini) on 127.0.0.1.

Each speaks its provider's wire format for the calls we make: the model list, authentication
failures with the provider's own error JSON, and (through `LocalServer.inject`) faults. Point
the operator setting at `server.base_url` (`PROVIDERS_OPENAI_BASE_URL`, ...) to use one.

Extending (chat endpoints, ...): subclass the handler, add a route, and use the subclass::

    class ChatHandler(FakeOpenAIHandler):
        routes = {**FakeOpenAIHandler.routes, ("POST", "/v1/chat/completions"): "chat_completions"}

        def chat_completions(self, body: bytes) -> None:
            self.send_json(200, {...})

    class FakeOpenAIChat(FakeOpenAI):
        handler_class = ChatHandler

Routes run after `record()`, the fault check and the provider's authentication check.
A key sent in the query string is always refused (`?key=`, `?api_key=`), so tests prove we
never put one in a URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from .server import LocalServer, SimulatorHandler

_QUERY_KEY_NAMES = ("key", "api_key", "apikey", "access_token")


class FakeProviderHandler(SimulatorHandler):
    """Dispatch: record, fault, query-key check, authentication, then the route's method."""

    #: (method, path) -> name of the handler method, called with the request body.
    routes: ClassVar[dict[tuple[str, str], str]] = {}
    missing_key_message: ClassVar[str] = "You didn't provide an API key."
    invalid_key_message: ClassVar[str] = "Incorrect API key provided."
    sim: FakeProvider  # type: ignore[assignment]

    def do_GET(self) -> None:
        self.dispatch(b"")

    def do_POST(self) -> None:
        self.dispatch(self.read_body())

    def do_DELETE(self) -> None:
        self.dispatch(self.read_body())

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def dispatch(self, body: bytes) -> None:
        self.record(body)
        if self.apply_fault():
            return
        if any(name in self.query for name in _QUERY_KEY_NAMES):
            with self.sim.lock:
                self.sim.query_key_requests += 1
            self.send_error_json(400, "A key in the URL is refused by this simulator: send it in a header.")
            return
        route = self.routes.get((self.command, self.path_only))
        if route is None:
            self.send_error_json(404, f"No route for {self.command} {self.path_only}")
            return
        if not self.authenticate():
            with self.sim.lock:
                self.sim.auth_failures += 1
            return
        getattr(self, route)(body)

    # Provider-specific hooks -----------------------------------------------------------------

    def presented_key(self) -> str | None:
        """The key the client sent, from wherever this provider reads it."""
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def authenticate(self) -> bool:
        """True when the request may proceed; otherwise sends the provider's error and returns False."""
        key = self.presented_key()
        if key is None:
            self.send_error_json(401, self.missing_key_message, kind="missing")
            return False
        if key != self.sim.valid_key:
            self.send_error_json(401, self.invalid_key_message, kind="invalid")
            return False
        return True

    def send_error_json(self, status: int, message: str, *, kind: str = "") -> None:
        self.send_json(status, {"error": {"message": message, "type": "invalid_request_error", "code": kind or None}})

    def page(self, items: list[Any], *, start: int, requested: int | None) -> tuple[list[Any], bool]:
        size = min(x for x in (requested, self.sim.page_size, len(items) or 1) if x)
        chunk = items[start : start + size]
        return chunk, start + size < len(items)


class FakeProvider(LocalServer):
    """Shared state: the one valid key, the models offered, counters for auth outcomes."""

    handler_class: type[SimulatorHandler] = FakeProviderHandler
    default_models: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        port: int = 0,
        *,
        valid_key: str = "test-key",
        models: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> None:
        super().__init__(port)
        self.valid_key = valid_key
        self.models = list(self.default_models if models is None else models)
        #: Server-side page size for paginated lists (None: everything the client asks for).
        self.page_size = page_size
        self.auth_failures = 0
        self.query_key_requests = 0

    @property
    def base_url(self) -> str:
        """What the operator setting (`PROVIDERS_<PROVIDER>_BASE_URL`) should be set to."""
        return self.url


# --- OpenAI ---------------------------------------------------------------------------------


class FakeOpenAIHandler(FakeProviderHandler):
    routes: ClassVar[dict[tuple[str, str], str]] = {("GET", "/v1/models"): "list_models"}

    def send_error_json(self, status: int, message: str, *, kind: str = "") -> None:
        code = {"missing": None, "invalid": "invalid_api_key"}.get(kind, kind or None)
        self.send_json(
            status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        )

    def list_models(self, body: bytes) -> None:
        # OpenAI reports the owner ("system", "openai", "openai-internal", an org id for fine-tunes)
        # and nothing about the context length.
        data = [
            {
                "id": m,
                "object": "model",
                "created": 1700000000,
                "owned_by": "openai" if m.startswith("gpt-3") else "system",
            }
            for m in self.sim.models
        ]
        self.send_json(200, {"object": "list", "data": data})


class FakeOpenAI(FakeProvider):
    handler_class = FakeOpenAIHandler
    default_models = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "text-embedding-3-small")

    @property
    def base_url(self) -> str:
        return self.url + "/v1"


# --- Anthropic ------------------------------------------------------------------------------


#: What Anthropic's `display_name` says for the default models (others: the id in title case).
ANTHROPIC_NAMES = {
    "claude-3-5-haiku-latest": "Claude Haiku 3.5",
    "claude-sonnet-4-0": "Claude Sonnet 4",
    "claude-opus-4-1": "Claude Opus 4.1",
}


class FakeAnthropicHandler(FakeProviderHandler):
    routes: ClassVar[dict[tuple[str, str], str]] = {("GET", "/v1/models"): "list_models"}
    missing_key_message = "x-api-key header is required"
    invalid_key_message = "invalid x-api-key"

    def presented_key(self) -> str | None:
        # The API takes x-api-key; OAuth-style Bearer is accepted too.
        return self.headers.get("x-api-key") or super().presented_key()

    def authenticate(self) -> bool:
        if not super().authenticate():
            return False
        if not self.headers.get("anthropic-version"):
            self.send_error_json(400, "anthropic-version: header is required", kind="invalid_request_error")
            return False
        return True

    def send_error_json(self, status: int, message: str, *, kind: str = "") -> None:
        kind = {
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
        }.get(status, "invalid_request_error")
        self.send_json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def list_models(self, body: bytes) -> None:
        models = self.sim.models
        after = self.query.get("after_id")
        start = models.index(after) + 1 if after in models else 0
        limit = int(self.query["limit"]) if self.query.get("limit", "").isdigit() else 20
        chunk, has_more = self.page(models, start=start, requested=limit)
        data = [
            {
                "id": m,
                "type": "model",
                "display_name": ANTHROPIC_NAMES.get(m) or m.replace("-", " ").title(),
                "created_at": "2025-01-01T00:00:00Z",
            }
            for m in chunk
        ]
        self.send_json(
            200,
            {
                "data": data,
                "has_more": has_more,
                "first_id": chunk[0] if chunk else None,
                "last_id": chunk[-1] if chunk else None,
            },
        )


class FakeAnthropic(FakeProvider):
    handler_class = FakeAnthropicHandler
    default_models = ("claude-3-5-haiku-latest", "claude-sonnet-4-0", "claude-opus-4-1")


# --- Gemini ---------------------------------------------------------------------------------


class FakeGeminiHandler(FakeProviderHandler):
    routes: ClassVar[dict[tuple[str, str], str]] = {("GET", "/v1beta/models"): "list_models"}

    def presented_key(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    def authenticate(self) -> bool:
        # What Google answers: no key -> 403 PERMISSION_DENIED; a wrong key -> 400 API_KEY_INVALID.
        key = self.presented_key()
        if key is None:
            self.send_error_json(403, "Method doesn't allow unregistered callers. Please use an API key.")
            return False
        if key != self.sim.valid_key:
            self.send_error_json(400, "API key not valid. Please pass a valid API key.", kind="API_KEY_INVALID")
            return False
        return True

    def send_error_json(self, status: int, message: str, *, kind: str = "") -> None:
        state = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
        }.get(status, "INTERNAL")
        error: dict[str, Any] = {"code": status, "message": message, "status": state}
        if kind:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": kind, "domain": "googleapis.com"}
            ]
        self.send_json(status, {"error": error})

    def list_models(self, body: bytes) -> None:
        models = self.sim.models
        token = self.query.get("pageToken", "")
        start = int(token) if token.isdigit() else 0
        size = int(self.query["pageSize"]) if self.query.get("pageSize", "").isdigit() else 50
        chunk, more = self.page(models, start=start, requested=size)
        payload: dict[str, Any] = {"models": [self.model_resource(m) for m in chunk]}
        if more:
            payload["nextPageToken"] = str(start + len(chunk))
        self.send_json(200, payload)

    def model_resource(self, model: str) -> dict[str, Any]:
        methods = ["embedContent"] if "embedding" in model else ["generateContent", "countTokens"]
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model.replace("-", " ").title(),  # "Gemini 2.5 Flash"
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": methods,
        }


class FakeGemini(FakeProvider):
    handler_class = FakeGeminiHandler
    default_models = ("gemini-2.5-flash-lite", "gemini-2.5-flash", "gemini-2.5-pro")


__all__ = [
    "FakeAnthropic",
    "FakeAnthropicHandler",
    "FakeGemini",
    "FakeGeminiHandler",
    "FakeOpenAI",
    "FakeOpenAIHandler",
    "FakeProvider",
    "FakeProviderHandler",
]
