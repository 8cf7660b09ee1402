"""The contract every provider backend fulfils, run against each one's local wire-format server.

One parametrised suite for all four backends (allauth's OAuth2TestsMixin idea): the same
scenarios, the same expected outcomes; only the server and the credential differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from providers import registry
from providers.backends.base import result_for_error
from providers.exceptions import BadRequest, CredentialInvalid, ProviderTimeout, RateLimited, URLNotAllowed
from providers.secrets import Secret
from providers.testing.fake_providers import FakeAnthropic, FakeGemini, FakeOpenAI
from providers.testing.gateway_simulator import GatewaySimulator
from providers.testing.server import LocalServer, RecordedRequest
from providers.types import CredentialConfig, VerificationOutcome

MODELS = ["model-a", "model-b", "model-c"]
KEY = "canary-key-7f3e9a1b2c4d"
CLIENT_ID = "svc-canary"
CLIENT_SECRET = "canary+secret/ä=9"


@dataclass
class Case:
    """How to run one backend against its server."""

    provider: str
    models_path: str  # where the model list is served (faults are injected there)
    make_server: Callable[[], LocalServer]
    configure: Callable[[LocalServer, object], None]  # point the operator settings at the server
    config: Callable[[LocalServer, bool], CredentialConfig]  # a good (True) or wrong (False) credential
    check_auth: Callable[[RecordedRequest], None]  # the model-list request carried the right auth


def _api_key_config(provider: str) -> Callable[[LocalServer, bool], CredentialConfig]:
    return lambda server, good: CredentialConfig(provider=provider, api_key=Secret(KEY if good else "wrong-key-0000"))


def _check_openai(request: RecordedRequest) -> None:
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def _check_anthropic(request: RecordedRequest) -> None:
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in request.headers


def _check_gemini(request: RecordedRequest) -> None:
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.path and "key=" not in request.path
    assert "Authorization" not in request.headers


def _check_gateway(request: RecordedRequest) -> None:
    token = request.headers["Authorization"]
    assert token.startswith("Bearer ") and len(token) > 20
    assert CLIENT_SECRET not in token


def _gateway_config(server: LocalServer, good: bool) -> CredentialConfig:
    return CredentialConfig(
        provider="ai_gateway",
        client_id=Secret(CLIENT_ID),
        client_secret=Secret(CLIENT_SECRET if good else "nope"),
        base_url=server.base_url,  # type: ignore[attr-defined]
    )


def _set(name: str) -> Callable[[LocalServer, object], None]:
    return lambda server, settings: setattr(settings, name, server.base_url)  # type: ignore[attr-defined]


CASES = [
    Case(
        "openai",
        "/v1/models",
        lambda: FakeOpenAI(valid_key=KEY, models=MODELS),
        _set("PROVIDERS_OPENAI_BASE_URL"),
        _api_key_config("openai"),
        _check_openai,
    ),
    Case(
        "anthropic",
        "/v1/models",
        lambda: FakeAnthropic(valid_key=KEY, models=MODELS),
        _set("PROVIDERS_ANTHROPIC_BASE_URL"),
        _api_key_config("anthropic"),
        _check_anthropic,
    ),
    Case(
        "gemini",
        "/v1beta/models",
        lambda: FakeGemini(valid_key=KEY, models=MODELS),
        _set("PROVIDERS_GEMINI_BASE_URL"),
        _api_key_config("gemini"),
        _check_gemini,
    ),
    Case(
        "ai_gateway",
        "/v1/models",
        lambda: GatewaySimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, models=tuple(MODELS)),
        lambda server, settings: None,
        _gateway_config,
        _check_gateway,
    ),
]


@pytest.fixture(params=CASES, ids=[c.provider for c in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def server(case, settings) -> Iterator[LocalServer]:
    with case.make_server() as srv:
        case.configure(srv, settings)
        yield srv


def _verify(case: Case, server: LocalServer, good: bool = True):
    result = registry.get(case.provider).verify(case.config(server, good))
    # Whatever happened, nothing secret leaks into what the user or the log sees.
    for text in (result.message, result.detail, repr(result)):
        assert KEY not in text and CLIENT_SECRET not in text
    return result


def _model_requests(server: LocalServer, case: Case) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path.split("?")[0] == case.models_path]


def test_valid_credential_is_verified_with_models(case, server):
    result = _verify(case, server)
    assert result.outcome is VerificationOutcome.VERIFIED, result.detail
    assert sorted(result.model_ids) == sorted(MODELS)
    assert result.message == "Verified: the provider offers 3 models."
    case.check_auth(_model_requests(server, case)[-1])


def test_list_models_returns_ids(case, server):
    models = registry.get(case.provider).list_models(case.config(server, True))
    assert sorted(m.id for m in models) == sorted(MODELS)


def test_wrong_credential_is_invalid(case, server):
    result = _verify(case, server, good=False)
    assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS, result.detail
    assert "wrong-key" not in result.message and "nope" not in result.message
    with pytest.raises(CredentialInvalid):
        registry.get(case.provider).list_models(case.config(server, False))


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_invalid_credentials(case, server, status):
    server.inject(path_prefix=case.models_path, status=status)
    result = _verify(case, server)
    assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS
    assert str(status) in result.detail


def test_rate_limited_keeps_retry_after(case, server):
    server.inject(path_prefix=case.models_path, status=429, headers={"Retry-After": "42"})
    result = _verify(case, server)
    assert result.outcome is VerificationOutcome.RATE_LIMITED
    assert result.retry_after == 42
    with pytest.raises(RateLimited):
        registry.get(case.provider).list_models(case.config(server, True))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_unreachable(case, server, status):
    server.inject(path_prefix=case.models_path, status=status)
    result = _verify(case, server)
    assert result.outcome is VerificationOutcome.UNREACHABLE
    assert str(status) in result.detail


def test_timeout(case, server, settings):
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 0.2
    server.inject(path_prefix=case.models_path, status=200, delay=1.0)
    assert _verify(case, server).outcome is VerificationOutcome.TIMEOUT
    with pytest.raises(ProviderTimeout):
        registry.get(case.provider).list_models(case.config(server, True))


def test_redirect_is_not_followed(case, server):
    with LocalServer() as elsewhere:
        server.inject(path_prefix=case.models_path, redirect_to=f"{elsewhere.url}{case.models_path}")
        result = _verify(case, server)
        assert result.outcome is VerificationOutcome.UNEXPECTED_RESPONSE
        assert "redirect not followed" in result.detail
        assert sum(elsewhere.counts.values()) == 0 and elsewhere.requests == []


def test_oversized_body(case, server, settings):
    settings.PROVIDERS_HTTP_MAX_RESPONSE_BYTES = 2000
    server.inject(path_prefix=case.models_path, status=200, body={"data": []}, oversize=50_000)
    result = _verify(case, server)
    assert result.outcome is VerificationOutcome.UNEXPECTED_RESPONSE
    assert "limit" in result.detail


def test_not_json_is_unexpected(case, server):
    server.inject(path_prefix=case.models_path, status=200, body=b"<html>maintenance</html>")
    assert _verify(case, server).outcome is VerificationOutcome.UNEXPECTED_RESPONSE


def test_unreachable_when_nothing_listens(case, settings):
    with case.make_server() as srv:
        case.configure(srv, settings)
        config = case.config(srv, True)
    # The server is gone: connection refused.
    result = registry.get(case.provider).verify(config)
    assert result.outcome is VerificationOutcome.UNREACHABLE


def test_missing_secret_is_invalid_without_a_request(case, server):
    config = CredentialConfig(provider=case.provider, base_url=getattr(server, "base_url", ""))
    result = registry.get(case.provider).verify(config)
    assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS
    assert server.requests == []


# --- Backend-specific behaviour ------------------------------------------------------------


def test_backends_have_identity_and_defaults():
    for provider in ("openai", "anthropic", "gemini"):
        backend = registry.get(provider)
        assert set(backend.default_tier_models) == {"fast", "standard", "premium"}
        assert backend.help_text
    assert registry.get("ai_gateway").default_tier_models == {}
    assert registry.get("ai_gateway").help_text


def test_gateway_token_endpoint_faults(settings):
    with GatewaySimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, models=tuple(MODELS)) as sim:
        config = _gateway_config(sim, True)
        backend = registry.get("ai_gateway")
        sim.inject(path_prefix="/oauth/token", status=400, body={"error": "invalid_client"}, times=1)
        result = backend.verify(config)
        assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS and result.extra["code"] == "invalid_client"
        sim.inject(path_prefix="/oauth/token", status=503, times=1)
        assert backend.verify(config).outcome is VerificationOutcome.UNREACHABLE
        sim.inject(path_prefix="/oauth/token", status=429, headers={"Retry-After": "5"}, times=1)
        result = backend.verify(config)
        assert result.outcome is VerificationOutcome.RATE_LIMITED and result.retry_after == 5
        settings.PROVIDERS_HTTP_READ_TIMEOUT = 0.2
        sim.inject(path_prefix="/oauth/token", status=200, delay=1.0, times=1)
        assert backend.verify(config).outcome is VerificationOutcome.TIMEOUT
        with LocalServer() as elsewhere:
            sim.inject(path_prefix="/oauth/token", redirect_to=f"{elsewhere.url}/oauth/token", times=1)
            assert backend.verify(config).outcome is VerificationOutcome.UNEXPECTED_RESPONSE
            assert elsewhere.requests == []
        assert sim.api_requests == 0  # no model request without a token
        assert backend.verify(config).ok


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_gateway_auth_methods_and_explicit_token_url(method):
    with GatewaySimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, models=tuple(MODELS)) as sim:
        config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(CLIENT_ID),
            client_secret=Secret(CLIENT_SECRET),
            base_url=sim.base_url + "/",
            token_url=sim.token_url,
            token_auth_method=method,
        )
        assert registry.get("ai_gateway").verify(config).ok
        assert sim.auth_methods[-1] == method
        assert (sim.token_requests, sim.api_requests) == (1, 1)


def test_gateway_urls_pass_the_policy_in_production(settings):
    settings.PROVIDERS_REQUIRE_HTTPS = True
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    with GatewaySimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as sim:
        backend = registry.get("ai_gateway")
        result = backend.verify(_gateway_config(sim, True))
        assert result.outcome is VerificationOutcome.URL_NOT_ALLOWED
        # Even with https forgiven, loopback is refused: by validate_url and by the transport.
        settings.PROVIDERS_REQUIRE_HTTPS = False
        localhost_config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(CLIENT_ID),
            client_secret=Secret(CLIENT_SECRET),
            base_url=f"http://localhost:{sim.port}/v1",
        )
        assert backend.verify(localhost_config).outcome is VerificationOutcome.URL_NOT_ALLOWED
        assert sim.token_requests == 0
        # The operator allow-lists the host: it works.
        settings.AI_GATEWAY_ALLOWED_HOSTS = [f"localhost:{sim.port}"]
        assert backend.verify(localhost_config).ok
        assert sim.token_requests == 1


def test_gateway_unsupported_auth_method(settings):
    config = CredentialConfig(
        provider="ai_gateway",
        client_id=Secret("a"),
        client_secret=Secret("b"),
        base_url="http://127.0.0.1:9/v1",
        token_auth_method="private_key_jwt",
    )
    assert registry.get("ai_gateway").verify(config).outcome is VerificationOutcome.UNEXPECTED_RESPONSE


def test_gemini_real_wrong_key_answer_and_embedding_filter(settings):
    with FakeGemini(valid_key=KEY, models=["gemini-2.5-flash", "text-embedding-004"]) as srv:
        settings.PROVIDERS_GEMINI_BASE_URL = srv.base_url
        backend = registry.get("gemini")
        models = backend.list_models(CredentialConfig(provider="gemini", api_key=Secret(KEY)))
        assert [m.id for m in models] == ["gemini-2.5-flash"]
        # Google answers a wrong key with 400 API_KEY_INVALID, not 401.
        result = backend.verify(CredentialConfig(provider="gemini", api_key=Secret("AIza-wrong")))
        assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS
        assert srv.requests[-1].headers["x-goog-api-key"] == "AIza-wrong"
        assert srv.query_key_requests == 0


@pytest.mark.parametrize(
    "fake, setting", [(FakeAnthropic, "PROVIDERS_ANTHROPIC_BASE_URL"), (FakeGemini, "PROVIDERS_GEMINI_BASE_URL")]
)
def test_paginated_model_lists_are_followed(settings, fake, setting):
    many = [f"model-{i:02d}" for i in range(7)]
    with fake(valid_key=KEY, models=many, page_size=3) as srv:
        setattr(settings, setting, srv.base_url)
        backend = registry.get("anthropic" if fake is FakeAnthropic else "gemini")
        models = backend.list_models(CredentialConfig(provider=backend.id, api_key=Secret(KEY)))
        assert [m.id for m in models] == many
        assert len(srv.requests) == 3


def test_fakes_refuse_keys_in_the_url():
    import httpx

    with FakeGemini(valid_key=KEY) as srv:
        response = httpx.get(f"{srv.base_url}/v1beta/models?key={KEY}")
        assert response.status_code == 400 and srv.query_key_requests == 1


def test_result_for_error_mapping():
    assert result_for_error(CredentialInvalid("x")).outcome is VerificationOutcome.INVALID_CREDENTIALS
    assert result_for_error(RateLimited("x", retry_after=3)).retry_after == 3
    assert result_for_error(ProviderTimeout("x")).outcome is VerificationOutcome.TIMEOUT
    assert result_for_error(URLNotAllowed("x")).outcome is VerificationOutcome.URL_NOT_ALLOWED
    assert result_for_error(BadRequest("x", status_code=404)).outcome is VerificationOutcome.UNEXPECTED_RESPONSE
