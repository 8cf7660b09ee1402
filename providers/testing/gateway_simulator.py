"""A local AI Gateway: OAuth2 client-credentials token endpoint plus an OpenAI-compatible API.

Used by the tests, the benchmarks, `manage.py providers_gateway_simulator` and `make demo`, so
the whole app runs with no real credentials. Wire format:

- `POST /oauth/token`: RFC 6749 §4.4 client credentials. Client authentication by HTTP Basic
  (id and secret form-urldecoded after Base64 decoding, §2.3.1) or in the form body
  (`client_secret_post`). Answers `{access_token, token_type, expires_in}`; `expires_in` is left
  out when `token_lifetime` is None (§5.1 makes it optional), and such tokens never expire.
- `GET /v1/models`: the OpenAI list format; needs a currently valid token (401 otherwise). Each
  entry has `owned_by` and, as LiteLLM-style gateways do, what `model_info` gives for it (a
  context length under one of the names such gateways use: `context_window`,
  `max_input_tokens`, `context_length`).
- `POST /v1/chat/completions`: JSON or SSE, see `providers.testing.gateway_chat`.

Faults: the generic `inject(...)` of `LocalServer` (status, headers, delay, ... by path prefix)
plus the gateway-specific switches below (`revoke_tokens`, `rate_limit`, `fail`,
`fail_token_endpoint`, `trickle`, `stream_fault`, scripted replies).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from .gateway_chat import ChatMixin, ChatScript
from .server import LocalServer, SimulatorHandler

TOKEN_PATH = "/oauth/token"
API_PREFIX = "/v1"

#: Extra fields of the default models' list entries: one common context field name each.
DEFAULT_MODEL_INFO: dict[str, dict[str, Any]] = {
    "sim-fast": {"owned_by": "openai", "context_window": 128000},
    "sim-standard": {"owned_by": "anthropic", "max_input_tokens": 200000},
    "sim-premium": {"owned_by": "google", "context_length": 1048576},
}


@dataclass
class IssuedToken:
    value: str
    client_id: str
    scope: str
    # Monotonic deadline; None = never expires (the simulator sent no expires_in).
    expires_at: float | None
    revoked: bool = False

    def valid(self) -> bool:
        return not self.revoked and (self.expires_at is None or time.monotonic() < self.expires_at)


class GatewayHandler(ChatMixin, SimulatorHandler):
    sim: GatewaySimulator  # type: ignore[assignment]

    def do_POST(self) -> None:
        body = self.read_body()
        path = self.path_only
        self.record(body)
        if path == TOKEN_PATH:
            self.sim._count("token")
            if self.apply_fault():
                return
            self._token(body)
            return
        if path.startswith(API_PREFIX):
            self.sim._count("api")
            if self.apply_fault():
                return
            if path == API_PREFIX + "/chat/completions":
                if self._authorized():
                    self.chat_completions(body)
                return
        self._not_found()

    def do_GET(self) -> None:
        path = self.path_only
        self.record()
        if path.startswith(API_PREFIX):
            self.sim._count("api")
            if self.apply_fault():
                return
            if path == API_PREFIX + "/models":
                if self._authorized():
                    self.sim._count("models")
                    data = [
                        {
                            "id": m,
                            "object": "model",
                            "created": 1700000000,
                            "owned_by": "simulator",
                            **self.sim.model_info.get(m, {}),
                        }
                        for m in self.sim.models
                    ]
                    self.send_json(200, {"object": "list", "data": data})
                return
        self._not_found()

    # -- OAuth2 ---------------------------------------------------------------------------

    def _token(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client_id, client_secret = self._client_credentials(form)
        sim = self.sim
        if client_id is None:
            self._oauth_error(401, "invalid_client", "client authentication missing")
            return
        if form.get("grant_type") != "client_credentials":
            self._oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
            return
        ok_id = secrets.compare_digest(client_id.encode(), sim.client_id.encode())
        ok_secret = secrets.compare_digest((client_secret or "").encode(), sim.client_secret.encode())
        if not (ok_id and ok_secret):
            self._oauth_error(401, "invalid_client", "client authentication failed")
            return
        scope = form.get("scope", "")
        if sim.token_delay:
            time.sleep(sim.token_delay)
        token = sim._issue(client_id, scope)
        payload: dict[str, Any] = {"access_token": token.value, "token_type": "Bearer"}
        if sim.token_lifetime is not None:
            payload["expires_in"] = sim.token_lifetime
        if scope:
            payload["scope"] = scope
        self.send_json(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_credentials(self, form: dict[str, str]) -> tuple[str | None, str | None]:
        header = self.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                return None, None
            self.sim._record_auth_method("client_secret_basic")
            # §2.3.1: both parts were application/x-www-form-urlencoded before encoding.
            return unquote_plus(raw_id), unquote_plus(raw_secret)
        if "client_id" in form:
            self.sim._record_auth_method("client_secret_post")
            return form["client_id"], form.get("client_secret", "")
        return None, None

    def _oauth_error(self, status: int, error: str, description: str) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="simulator"'} if status == 401 else {}
        headers["Cache-Control"] = "no-store"
        self.send_json(status, {"error": error, "error_description": description}, headers)

    # -- API auth -------------------------------------------------------------------------

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        value = header[7:].strip() if header[:7].lower() == "bearer " else ""
        token = self.sim._lookup(value) if value else None
        if token is not None and token.valid():
            return True
        self.sim._count("unauthorized")
        reason = "revoked" if token is not None and token.revoked else "expired" if token is not None else "invalid"
        self.send_json(
            401,
            {
                "error": {
                    "message": f"The access token is {reason}.",
                    "type": "invalid_request_error",
                    "code": "invalid_token",
                }
            },
            {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="token {reason}"'},
        )
        return False

    def _not_found(self) -> None:
        self.send_json(
            404, {"error": {"message": f"no route for {self.command} {self.path_only}", "type": "not_found"}}
        )


class GatewaySimulator(LocalServer, ChatScript):
    """An AI Gateway on 127.0.0.1; `with GatewaySimulator() as sim: sim.token_url, sim.base_url`."""

    handler_class = GatewayHandler

    def __init__(
        self,
        port: int = 0,
        *,
        client_id: str = "sim-client",
        client_secret: str = "sim-secret",
        token_lifetime: int | None = 3600,
        models: tuple[str, ...] | list[str] = ("sim-fast", "sim-standard", "sim-premium"),
        model_info: dict[str, dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(port, host)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.models = tuple(models)
        # Extra list-entry fields per model (owned_by, a context length); absent ones are left out.
        self.model_info = DEFAULT_MODEL_INFO if model_info is None else model_info
        # Seconds the token endpoint waits before a successful answer (a slow IdP).
        self.token_delay = 0.0
        self._tokens: dict[str, IssuedToken] = {}
        self._counters: dict[str, int] = {}
        self.auth_methods: list[str] = []
        self._state_lock = threading.Lock()
        ChatScript.__init__(self)

    # -- addresses ------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def base_url(self) -> str:
        return self.url + API_PREFIX

    # -- counters (every request counts, faulted ones included) ---------------------------

    def _count(self, name: str) -> None:
        with self._state_lock:
            self._counters[name] = self._counters.get(name, 0) + 1

    def counter(self, name: str) -> int:
        """`token`, `api`, `models`, `chat`, `stream`, `unauthorized`."""
        with self._state_lock:
            return self._counters.get(name, 0)

    @property
    def token_requests(self) -> int:
        return self.counter("token")

    @property
    def api_requests(self) -> int:
        return self.counter("api")

    @property
    def chat_requests(self) -> int:
        return self.counter("chat")

    @property
    def unauthorized_requests(self) -> int:
        return self.counter("unauthorized")

    def reset_counters(self) -> None:
        with self._state_lock:
            self._counters.clear()
        with self.lock:
            self.counts.clear()
            self.requests.clear()

    def _record_auth_method(self, method: str) -> None:
        with self._state_lock:
            self.auth_methods.append(method)

    # -- tokens ---------------------------------------------------------------------------

    def _issue(self, client_id: str, scope: str) -> IssuedToken:
        lifetime = self.token_lifetime
        expires_at = None if lifetime is None else time.monotonic() + lifetime
        token = IssuedToken(secrets.token_urlsafe(24), client_id, scope, expires_at)
        with self._state_lock:
            self._tokens[token.value] = token
        return token

    def _lookup(self, value: str) -> IssuedToken | None:
        with self._state_lock:
            return self._tokens.get(value)

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far, oldest first (for assertions)."""
        with self._state_lock:
            return list(self._tokens)

    def valid_tokens(self) -> list[str]:
        with self._state_lock:
            return [t.value for t in self._tokens.values() if t.valid()]

    def revoke_tokens(self) -> int:
        """Revoke every issued token: the API answers 401 for them. Returns how many."""
        with self._state_lock:
            live = [t for t in self._tokens.values() if not t.revoked]
            for token in live:
                token.revoked = True
        return len(live)

    def revoke_token(self, value: str) -> None:
        with self._state_lock:
            if value in self._tokens:
                self._tokens[value].revoked = True

    def expire_tokens(self) -> None:
        """Make every issued token expire now (as if its lifetime had passed)."""
        now = time.monotonic()
        with self._state_lock:
            for token in self._tokens.values():
                token.expires_at = now

    # -- fault switches (thin, named wrappers over `inject`) ------------------------------

    def fail_token_endpoint(
        self, status: int = 503, *, times: int | None = None, error: str = "", delay: float = 0.0
    ) -> None:
        """Token endpoint answers `status`; `error="invalid_client"` gives the OAuth2 error body."""
        body: Any = {"error": error} if error else {"error": "temporarily_unavailable"}
        self.inject(path_prefix=TOKEN_PATH, status=status, body=body, times=times, delay=delay)

    def trickle(
        self,
        interval: float,
        *,
        path_prefix: str = API_PREFIX,
        status: int = 200,
        body: Any = None,
        times: int | None = None,
    ) -> None:
        """Answer requests under `path_prefix` (the token endpoint: `TOKEN_PATH`) one byte every
        `interval` seconds, so that no single read times out but the whole answer takes long."""
        if body is None:
            body = (
                {"access_token": "trickled-token", "token_type": "Bearer", "expires_in": 3600}
                if path_prefix == TOKEN_PATH
                else {"object": "list", "data": [{"id": m} for m in self.models]}
            )
        self.inject(path_prefix=path_prefix, status=status, body=body, times=times, trickle=interval)

    def rate_limit(
        self, retry_after: float | None = 1, *, times: int | None = 1, path_prefix: str = API_PREFIX
    ) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = {
            "error": {"message": "Rate limit reached", "type": "rate_limit_exceeded", "code": "rate_limit_exceeded"}
        }
        self.inject(path_prefix=path_prefix, status=429, headers=headers, body=body, times=times)

    def fail(
        self, status: int = 503, *, times: int | None = 1, path_prefix: str = API_PREFIX, delay: float = 0.0
    ) -> None:
        self.inject(path_prefix=path_prefix, status=status, times=times, delay=delay)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - manual use
    """`python -m providers.testing.gateway_simulator --port 8765`."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client-id", default="sim-client")
    parser.add_argument("--client-secret", default="sim-secret")
    parser.add_argument("--token-lifetime", type=int, default=3600)
    args = parser.parse_args(argv)
    sim = GatewaySimulator(
        args.port, client_id=args.client_id, client_secret=args.client_secret, token_lifetime=args.token_lifetime
    )
    print(json.dumps({"token_url": sim.token_url, "base_url": sim.base_url}))
    sim.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
