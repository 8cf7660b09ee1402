"""Issue 9, "Provider error text is echoed": what verify says about a failure.

A server at a URL a user set chooses its error text, so none of it is shown: our own words, the
status, the provider's display name, at most a standard OAuth2 error code. An operator endpoint
(a public provider) keeps a short snippet, redacted (AWS keys, keys with "/", `password=`).
Connection failures read the same whatever the port answered, so verify is no port scanner.
Real HTTP to the gateway simulator, the fake OpenAI and raw TCP listeners on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest

from providers import registry
from providers.redaction import redact
from providers.secrets import Secret
from providers.testing.gateway_simulator import GatewaySimulator
from providers.types import CredentialConfig, VerificationOutcome

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET

pytestmark = pytest.mark.django_db

# Free text a hostile gateway wants on our pages.
FREE = "Account suspended: call +1-555-0100 or visit https://evil.example/fix now"
GATEWAY_NAME = "AI Gateway (service account)"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def verify_page(client, sim) -> dict:
    body = {
        "provider": "ai_gateway",
        "client_id": GATEWAY_CLIENT_ID,
        "client_secret": GATEWAY_CLIENT_SECRET,
        "base_url": sim.base_url,
        "token_url": sim.token_url,
    }
    response = client.post("/api/providers/verify", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    "path, status, body, expected",
    [
        (
            "/oauth/token",
            401,
            {"error": "invalid_client", "error_description": FREE},
            "rejected the client credentials (HTTP 401, invalid_client)",
        ),
        ("/oauth/token", 400, {"error": "please_read_this", "error_description": FREE}, "HTTP 400 from"),
        ("/oauth/token", 503, FREE.encode(), "HTTP 503 from"),
        ("/v1/models", 403, {"error": {"message": FREE, "type": "please_read_this"}}, "HTTP 403 from"),
        ("/v1/models", 500, {"message": FREE}, "HTTP 500 from"),
        ("/v1/models", 404, {"error": "invalid_token", "error_description": FREE}, "invalid_token"),
    ],
)
def test_a_user_set_url_never_gets_its_text_shown(alice_client, path, status, body, expected):
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        sim.inject(path_prefix=path, status=status, body=body, times=None)
        data = verify_page(alice_client, sim)
    message = data["message"]
    assert data["ok"] is False
    assert expected in message and GATEWAY_NAME in message, message
    for fragment in ("suspended", "555-0100", "evil.example", "please_read_this"):
        assert fragment not in message, message


def test_a_public_provider_keeps_a_short_redacted_snippet(settings, fake_openai):
    text = f"Bad key {AWS_ID} with secret {AWS_SECRET}; password=hunter2hunter2 from db"
    fake_openai.inject(
        path_prefix="/v1/models",
        status=401,
        body={"error": {"message": text + " " + "x" * 400, "type": "invalid_request_error"}},
    )
    result = registry.get("openai").verify(
        CredentialConfig(provider="openai", api_key=Secret("sk-whatever-0000000000"))
    )
    assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS
    message = result.message
    assert "HTTP 401 from OpenAI" in message and "invalid_request_error: Bad key" in message
    for secret in (AWS_ID, AWS_SECRET, "hunter2", "wJalrXUtnFEMI", "K7MDENG"):
        assert secret not in message
    assert len(message) < 400


@pytest.mark.parametrize(
    "text, gone",
    [
        (f"id {AWS_ID} and x{AWS_ID}", AWS_ID),
        (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
        (f"key {AWS_SECRET} end", "bPxRfiCY"),
        ('{"password": "correct horse battery"}', "correct horse"),
        ("password=s3cr3t&user=bob", "s3cr3t"),
        ("pwd: s3cr3t", "s3cr3t"),
        ("Authorization: Basic c2ltOnNlY3JldA==", "c2ltOnNlY3JldA"),
        ("client_secret='a b c'", "a b c"),
    ],
)
def test_redaction_catches_the_missing_shapes(text, gone):
    assert gone not in redact(text)


# --- connection failures collapse ------------------------------------------------------------


class Service:
    """A TCP service on 127.0.0.1 that is no HTTP server: it answers `greeting` (like a Redis
    "-ERR") or nothing, then closes."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(1)
                conn.recv(4096)
                if self.greeting:
                    conn.sendall(self.greeting)
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> Service:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def verify_at(base: str):
    config = CredentialConfig(
        provider="ai_gateway",
        client_id=Secret(GATEWAY_CLIENT_ID),
        client_secret=Secret(GATEWAY_CLIENT_SECRET),
        base_url=f"{base}/v1",
        token_url=f"{base}/oauth/token",
    )
    return registry.get("ai_gateway").verify(config)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_failures_read_the_same(settings):
    settings.PROVIDERS_HTTP_CONNECT_TIMEOUT = 1.0
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 2.0
    results = {}
    results["closed"] = verify_at(f"http://127.0.0.1:{closed_port()}")
    with Service() as silent, Service(b"-ERR unknown command 'POST'\r\n") as redis_like:
        results["hangs up"] = verify_at(f"http://127.0.0.1:{silent.port}")
        results["not http"] = verify_at(f"http://127.0.0.1:{redis_like.port}")
        results["tls to plain"] = verify_at(f"https://127.0.0.1:{redis_like.port}")
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        results["tls to http"] = verify_at(f"https://127.0.0.1:{sim.port}")
    messages = {name: result.message for name, result in results.items()}
    assert {r.outcome for r in results.values()} == {VerificationOutcome.UNREACHABLE}, messages
    assert len(set(messages.values())) == 1, messages
    (message,) = set(messages.values())
    assert message == f"Provider unreachable: could not connect to {GATEWAY_NAME}."
    for word in ("Errno", "Error", "SSL", "ssl", "refused", "disconnected", "Connect"):
        assert word not in message


@pytest.mark.parametrize("credential_id, shown", [(7, False), (None, True)], ids=["users-gateway", "platform-gateway"])
def test_a_stream_error_event_is_shown_only_from_the_operators_gateway(credential_id, shown, token_manager, settings):
    from providers.exceptions import StreamError
    from providers.gateway.client import GatewayClient

    settings.PROVIDERS_GATEWAY_MAX_RETRIES = 0
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        sim.stream_fault(error_after=0, error_message=FREE)
        config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(GATEWAY_CLIENT_ID),
            client_secret=Secret(GATEWAY_CLIENT_SECRET),
            base_url=sim.base_url,
            token_url=sim.token_url,
            credential_id=credential_id,
        )
        with GatewayClient(config) as client, pytest.raises(StreamError) as info:
            list(client.stream_chat_completion([{"role": "user", "content": "hi"}], "sim-fast"))
    message = str(info.value)
    assert message.startswith(f"{GATEWAY_NAME} reported an error mid-stream")
    assert ("suspended" in message) is shown
