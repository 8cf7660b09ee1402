"""OAuth2 client-credentials (RFC 6749 §4.4) against a strict local token endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import parse_qs, unquote_plus

import pytest

from providers.exceptions import (
    BadRequest,
    CredentialInvalid,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnexpectedResponse,
)
from providers.gateway import oauth2
from providers.http.client import new_async_client, new_client
from providers.secrets import Secret
from providers.testing.server import LocalServer, SimulatorHandler

CLIENT_ID = "svc-client@ideaforge"
# Every character that breaks naive Basic encoding: + / : = % and a non-ASCII letter.
TRICKY_SECRET = "s3cr+t/with:colon=eq%25pct é-end"


class _TokenHandler(SimulatorHandler):
    """Decodes client authentication the way a strict server does (§2.3.1 for Basic)."""

    def do_POST(self) -> None:
        body = self.read_body()
        self.record(body)
        if self.apply_fault():
            return
        sim: TokenEndpoint = self.sim  # type: ignore[assignment]
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        sim.last_form = form
        if "?" in self.path:
            return self.send_json(400, {"error": "invalid_request", "error_description": "no query string allowed"})
        if form.get("grant_type") != "client_credentials":
            return self.send_json(400, {"error": "unsupported_grant_type"})
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            raw_id, _, raw_secret = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            sim.last_method = "client_secret_basic"
        else:
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
            sim.last_method = "client_secret_post"
        if (client_id, client_secret) != (sim.client_id, sim.client_secret):
            return self.send_json(401, {"error": "invalid_client", "error_description": f"bad secret {client_secret}"})
        self.send_json(200, sim.token_payload)


class TokenEndpoint(LocalServer):
    handler_class = _TokenHandler

    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = TRICKY_SECRET) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.token_payload: dict = {"access_token": "tok-canary-123456", "token_type": "Bearer", "expires_in": 3600}
        self.last_form: dict = {}
        self.last_method = ""

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"


@pytest.fixture
def endpoint():
    with TokenEndpoint() as srv:
        yield srv


def _request(endpoint: TokenEndpoint, *, secret: str = TRICKY_SECRET, **kwargs) -> oauth2.TokenResponse:
    with new_client(enforce_policy=True) as client:
        return oauth2.request_token(
            client, token_url=endpoint.token_url, client_id=Secret(CLIENT_ID), client_secret=Secret(secret), **kwargs
        )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_tricky_secret_round_trips(endpoint, method):
    before = time.monotonic()
    token = _request(endpoint, auth_method=method, scope="models:read chat")
    assert endpoint.last_method == method
    assert token.access_token.reveal() == "tok-canary-123456"
    assert token.token_type == "Bearer" and token.expires_in == 3600.0
    assert before <= token.sent_at <= time.monotonic()
    assert endpoint.last_form["scope"] == "models:read chat"
    assert "tok-canary" not in repr(token)
    recorded = endpoint.requests[-1]
    assert "?" not in recorded.path and TRICKY_SECRET not in recorded.path
    if method == "client_secret_basic":
        assert "client_secret" not in endpoint.last_form
        # §2.3.1: form-encoded before Base64 (a plain `auth=(id, secret)` would send the raw secret).
        decoded = base64.b64decode(recorded.headers["Authorization"][6:]).decode()
        assert TRICKY_SECRET not in decoded and "%2B" in decoded
    else:
        assert "Authorization" not in recorded.headers


def test_async_twin_same_behaviour(endpoint):
    async def go(method):
        async with new_async_client(enforce_policy=True) as client:
            return await oauth2.arequest_token(
                client,
                token_url=endpoint.token_url,
                client_id=Secret(CLIENT_ID),
                client_secret=Secret(TRICKY_SECRET),
                auth_method=method,
            )

    for method in oauth2.AUTH_METHODS:
        assert asyncio.run(go(method)).access_token.reveal() == "tok-canary-123456"
    endpoint.client_secret = "other"
    with pytest.raises(CredentialInvalid):
        asyncio.run(go("client_secret_basic"))


def test_missing_expires_in_is_none(endpoint):
    endpoint.token_payload = {"access_token": "t", "token_type": "bearer"}  # lowercase accepted
    token = _request(endpoint)
    assert token.expires_in is None and token.token_type == "Bearer"


def test_no_scope_sent_when_empty(endpoint):
    _request(endpoint)
    assert "scope" not in endpoint.last_form


def test_invalid_client_never_echoes_the_secret(endpoint):
    wrong = "wrong+secret/value"
    with pytest.raises(CredentialInvalid) as info:
        _request(endpoint, secret=wrong)
    assert info.value.code == "invalid_client" and info.value.status_code == 401
    assert wrong not in str(info.value) and "wrong" not in str(info.value)
    assert info.value.retryable is False


@pytest.mark.parametrize("code", ["invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant"])
def test_configuration_errors_are_credential_invalid(endpoint, code):
    endpoint.inject(path_prefix="/oauth/token", status=400, body={"error": code})
    with pytest.raises(CredentialInvalid) as info:
        _request(endpoint)
    assert info.value.code == code


def test_401_without_body_is_invalid_client(endpoint):
    endpoint.inject(path_prefix="/oauth/token", status=401, body=b"")
    with pytest.raises(CredentialInvalid) as info:
        _request(endpoint)
    assert info.value.code == "invalid_client"


def test_other_400_is_bad_request(endpoint):
    endpoint.inject(path_prefix="/oauth/token", status=400, body={"error": "invalid_request"})
    with pytest.raises(BadRequest) as info:
        _request(endpoint)
    assert info.value.code == "invalid_request"


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"access_token": "t", "token_type": "mac"}, "not Bearer"),
        ({"access_token": "t"}, "not Bearer"),
        ({"token_type": "Bearer", "expires_in": 60}, "no access_token"),
        (["not", "an", "object"], "not a JSON object"),
    ],
)
def test_unusable_token_answers(endpoint, payload, message):
    endpoint.token_payload = payload
    with pytest.raises(UnexpectedResponse, match=message):
        _request(endpoint)


def test_bad_json(endpoint):
    endpoint.inject(path_prefix="/oauth/token", status=200, body=b"{not json")
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        _request(endpoint)


def test_rate_limited_and_server_errors(endpoint):
    endpoint.inject(path_prefix="/oauth/token", status=429, headers={"Retry-After": "30"}, times=1)
    with pytest.raises(RateLimited) as info:
        _request(endpoint)
    assert info.value.retry_after == 30
    endpoint.inject(path_prefix="/oauth/token", status=503, times=1)
    with pytest.raises(ProviderUnavailable):
        _request(endpoint)
    assert _request(endpoint).access_token.reveal() == "tok-canary-123456"  # faults used up


def test_timeout(endpoint, settings):
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 0.2
    endpoint.inject(path_prefix="/oauth/token", status=200, delay=1.0, times=1)
    with pytest.raises(ProviderTimeout):
        _request(endpoint)


def test_default_token_url():
    assert oauth2.default_token_url("https://gw.example.com/v1") == "https://gw.example.com/oauth/token"
    assert oauth2.default_token_url("http://127.0.0.1:8080/api/v1/") == "http://127.0.0.1:8080/oauth/token"


def test_unknown_auth_method_and_missing_secret(endpoint):
    with pytest.raises(ValueError):
        _request(endpoint, auth_method="private_key_jwt")
    with pytest.raises(CredentialInvalid):
        _request(endpoint, secret="")
    assert endpoint.counts["/oauth/token"] == 0


def test_token_endpoint_body_is_json_form(endpoint):
    _request(endpoint, auth_method="client_secret_post")
    body = endpoint.requests[-1].body.decode()
    assert body.startswith("grant_type=client_credentials")
    assert json.dumps(TRICKY_SECRET) not in body  # form-encoded, not JSON
