"""A planted canary secret never comes back: not in a page, a JSON response, an error, or a log line.

Secrets are planted through the real flows (the settings page form and the JSON API), verified
against local servers over real HTTP, then every page and API response is collected, with all
log output captured at DEBUG from every logger (including the non-propagating ones).
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from providers.models import ProviderCredential
from providers.testing.gateway_simulator import GatewaySimulator

pytestmark = pytest.mark.django_db

CANARY = "sk-CANARY-7f3e9a1b2c4d"
GW_ID = "gw-CANARY-id-0a1b2c3d4e"
GW_SECRET = "gw-CANARY-secret-5f6a7b8c9d"
PAGE = "/settings/providers/"


@pytest.fixture(autouse=True)
def _verify_budget(settings):
    """These flows verify more often than a user may per minute; the budget has its own tests
    (test_verify_rate_limit.py), here it would only cut the flows short."""
    settings.PROVIDERS_VERIFY_RATE_LIMIT = "1000/minute"


def forbidden(secret: str) -> list[str]:
    # The whole value, and its first 8 characters (a prefix identifies a key too).
    return [secret, secret[:8]]


@pytest.fixture
def all_logs(caplog):
    """caplog at DEBUG on the root logger and on every logger that does not propagate."""
    caplog.set_level(logging.DEBUG)
    attached = []
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
            attached.append(logger)
    yield caplog
    for logger in attached:
        logger.removeHandler(caplog.handler)


def log_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts.append(repr(getattr(record, "args", "")))
    return "\n".join(parts)


def audit_table_text() -> str:
    """Every column of every credential audit row, as stored."""
    from django.db import connection

    from providers.models import CredentialAuditEvent

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {CredentialAuditEvent._meta.db_table}")
        return "\n".join(repr(row) for row in cursor.fetchall())


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(PAGE)
    return client


def api_post(client: Client, url: str, payload) -> object:
    return client.post(
        url, json.dumps(payload), content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )


def page_post(client: Client, url: str, data: dict) -> object:
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, follow=True)


def body(response) -> str:
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return content.decode("utf-8", "replace") + "\n" + "\n".join(f"{k}: {v}" for k, v in response.items())


def assert_clean(texts: list[str], secrets: list[str]) -> None:
    for index, text in enumerate(texts):
        for secret in secrets:
            for needle in forbidden(secret):
                assert needle not in text, f"{needle!r} leaked in collected text #{index}"


def test_gateway_canary_never_leaks(alice, all_logs):
    with GatewaySimulator(client_id=GW_ID, client_secret=GW_SECRET) as sim:
        client = csrf_client(alice)
        texts = []
        form = {
            "ai_gateway-client_id": GW_ID,
            "ai_gateway-client_secret": GW_SECRET,
            "ai_gateway-base_url": sim.base_url,
            "ai_gateway-token_url": sim.token_url,
        }
        # Through the page: verify, save, then a wrong secret, then a refused URL change.
        texts.append(body(page_post(client, f"{PAGE}ai_gateway/verify", form)))
        texts.append(body(page_post(client, f"{PAGE}ai_gateway/save", form)))
        assert ProviderCredential.objects.get(owner=alice, provider="ai_gateway").status == "verified"
        texts.append(
            body(page_post(client, f"{PAGE}ai_gateway/save", {**form, "ai_gateway-client_secret": GW_SECRET + "x"}))
        )
        texts.append(
            body(
                page_post(
                    client,
                    f"{PAGE}ai_gateway/save",
                    {**form, "ai_gateway-client_secret": "", "ai_gateway-base_url": sim.url + "/v2"},
                )
            )
        )
        texts.append(
            body(
                page_post(
                    client,
                    f"{PAGE}ai_gateway/save",
                    {**form, "save_unverified": "1", "ai_gateway-client_secret": GW_SECRET + "y"},
                )
            )
        )
        texts.append(body(page_post(client, f"{PAGE}ai_gateway/save", form)))
        # Through the API.
        payload = {
            "provider": "ai_gateway",
            "client_id": GW_ID,
            "client_secret": GW_SECRET,
            "base_url": sim.base_url,
            "token_url": sim.token_url,
        }
        texts.append(body(api_post(client, "/api/providers/verify", payload)))
        texts.append(body(api_post(client, "/api/providers/configure", {**payload, "models": {"fast": "sim-fast"}})))
        texts.append(body(api_post(client, "/api/providers/configure", {**payload, "client_secret": GW_SECRET + "z"})))
        texts.append(body(api_post(client, "/api/providers/configure", {**payload, "priority": "high"})))
        texts.append(
            body(
                api_post(client, "/api/providers/verify", {**payload, "client_secret": "", "base_url": sim.url + "/v3"})
            )
        )
        texts.append(
            body(
                api_post(
                    client, "/api/providers/verify", {**payload, "base_url": "http://" + GW_SECRET + "@127.0.0.1/v1"}
                )
            )
        )
        # The card's controls: refresh the model list, the switch, models, the up/down order.
        texts.append(body(page_post(client, f"{PAGE}ai_gateway/refresh", {})))
        texts.append(body(page_post(client, f"{PAGE}ai_gateway/enabled", {"enabled": "0"})))
        texts.append(body(page_post(client, f"{PAGE}ai_gateway/enabled", {"enabled": "1"})))
        texts.append(
            body(
                page_post(
                    client,
                    f"{PAGE}ai_gateway/preferences",
                    {"ai_gateway-prefs-fast_model": "unlisted-model", "ai_gateway-prefs-enabled": "on"},
                )
            )
        )
        texts.append(body(page_post(client, f"{PAGE}order", {"provider": "ai_gateway", "move": "down"})))
        # Everything a user can look at afterwards.
        for url in (PAGE, f"{PAGE}ai_gateway/delete", "/api/providers"):
            texts.append(body(client.get(url)))
        sim.client_secret = "rotated"  # the stored secret is now rejected: error pages and status
        texts.append(
            body(
                page_post(
                    client,
                    f"{PAGE}ai_gateway/verify",
                    {**form, "ai_gateway-client_id": "", "ai_gateway-client_secret": ""},
                )
            )
        )
        texts.append(body(client.get(PAGE)))
    texts.append(log_text(all_logs))
    assert "credential stored" in texts[-1] and "Bad Request" in texts[-1]  # logs really were captured
    assert "Verified" in texts[1]  # the flows really ran
    texts.append(audit_table_text())
    assert "ai_gateway" in texts[-1]  # the audit trail really was written
    assert_clean(texts, [GW_ID, GW_SECRET])


# --- API keys: OpenAI through the page, Anthropic and Gemini through the API ----------------

from providers.testing.fake_providers import FakeAnthropic, FakeGemini, FakeOpenAI, FakeOpenAIHandler  # noqa: E402


class EchoingOpenAIHandler(FakeOpenAIHandler):
    """Worst case: a provider that quotes the rejected key back in its error message."""

    def send_error_json(self, status: int, message: str, *, kind: str = "") -> None:
        super().send_error_json(status, f"{message} You provided: {self.presented_key()}", kind=kind)


class EchoingOpenAI(FakeOpenAI):
    handler_class = EchoingOpenAIHandler


def test_api_key_canary_never_leaks(alice, settings, all_logs):
    texts = []
    with (
        EchoingOpenAI(valid_key=CANARY) as openai,
        FakeAnthropic(valid_key=CANARY + "-ant") as anthropic,
        FakeGemini(valid_key=CANARY + "-gem") as gemini,
    ):
        settings.PROVIDERS_OPENAI_BASE_URL = openai.base_url
        settings.PROVIDERS_ANTHROPIC_BASE_URL = anthropic.base_url
        settings.PROVIDERS_GEMINI_BASE_URL = gemini.base_url
        client = csrf_client(alice)
        # The page: a rejected canary first (the fake echoes it), then the right one.
        texts.append(body(page_post(client, f"{PAGE}openai/verify", {"openai-api_key": CANARY + "0"})))
        texts.append(
            body(page_post(client, f"{PAGE}openai/save", {"openai-api_key": CANARY + "0", "save_unverified": "1"}))
        )
        texts.append(body(page_post(client, f"{PAGE}openai/save", {"openai-api_key": CANARY})))
        assert ProviderCredential.objects.get(owner=alice, provider="openai").status == "verified"
        texts.append(body(page_post(client, f"{PAGE}openai/preferences", {"openai-prefs-priority": "bad"})))
        texts.append(
            body(page_post(client, f"{PAGE}openai/save", {"openai-api_key": "", "openai-default_model": "x" * 300}))
        )
        # A form re-rendered with errors must not put the submitted key back into the page.
        texts.append(
            body(page_post(client, f"{PAGE}openai/save", {"openai-api_key": CANARY, "openai-default_model": "x" * 300}))
        )
        # The API.
        for provider, key in (("anthropic", CANARY + "-ant"), ("gemini", CANARY + "-gem")):
            texts.append(body(api_post(client, "/api/providers/verify", {"provider": provider, "api_key": key})))
            texts.append(body(api_post(client, "/api/providers/verify", {"provider": provider, "api_key": key + "x"})))
            texts.append(
                body(
                    api_post(client, "/api/providers/configure", {"provider": provider, "api_key": key, "priority": 2})
                )
            )
            texts.append(
                body(
                    api_post(client, "/api/providers/configure", {"provider": provider, "api_key": key, "priority": -2})
                )
            )
        texts.append(
            body(api_post(client, "/api/providers/configure", {"provider": "openai", "api_key": CANARY + "1"}))
        )
        texts.append(body(api_post(client, "/api/providers/configure", {"provider": "nope", "api_key": CANARY})))
        texts.append(body(api_post(client, "/api/providers/verify", '{"provider": "openai", "api_key": "' + CANARY)))
        texts.append(body(client.post("/api/providers/verify", {"api_key": CANARY})))  # no CSRF header: 403
        for url in (PAGE, f"{PAGE}openai/delete", f"{PAGE}gemini/delete", "/api/providers"):
            texts.append(body(client.get(url)))
        assert openai.requests and anthropic.requests and gemini.requests  # the flows really ran
    texts.append(log_text(all_logs))
    texts.append(audit_table_text())
    assert_clean(texts, [CANARY])
    assert ProviderCredential.objects.filter(owner=alice).count() == 3


# --- the faults of issue 8: Redis down, a trickling gateway, http:// refused, lost key ----------


@pytest.mark.redis
def test_gateway_canary_never_leaks_through_faults(alice, settings, all_logs):
    """The paths that log or answer on faults: the Redis outage lines, the pre-refresh's
    per-credential isolation, the total deadlines, the https refusal and "needs re-entry"."""
    from cryptography.fernet import Fernet

    from providers.gateway.tokens import get_token_manager
    from providers.redis_outage import outage
    from providers.services import tokens as token_services
    from providers.testing.gateway_simulator import TOKEN_PATH
    from providers.testing.redis_server import RedisServer

    secret = GW_SECRET + "-ünï"  # non-ASCII too
    texts = []
    with GatewaySimulator(client_id=GW_ID, client_secret=secret) as sim, RedisServer() as redis_server:
        settings.REDIS_URL = redis_server.url
        settings.CACHES = {"default": {"BACKEND": "providers.softcache.SoftRedisCache", "LOCATION": redis_server.url}}
        settings.PROVIDERS_REDIS_RETRY_SECONDS = 0.2
        client = csrf_client(alice)
        payload = {
            "provider": "ai_gateway",
            "client_id": GW_ID,
            "client_secret": secret,
            "base_url": sim.base_url,
            "token_url": sim.token_url,
        }
        texts.append(body(api_post(client, "/api/providers/configure", payload)))
        assert ProviderCredential.objects.get(owner=alice).status == "verified"
        texts.append(repr(token_services.token_refresh_all(margin=10**6)))
        redis_server.down()
        texts.append(repr(token_services.token_refresh_all(margin=10**6)))
        texts.append(body(client.get("/api/providers")))
        redis_server.up()
        settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 0.3
        settings.PROVIDERS_VERIFY_TIMEOUT = 0.6
        sim.trickle(0.1, path_prefix=TOKEN_PATH)
        texts.append(body(api_post(client, "/api/providers/verify", payload)))
        texts.append(repr(token_services.token_refresh_all(margin=10**6)))
        sim.clear_faults()
        settings.PROVIDERS_REQUIRE_HTTPS = True
        get_token_manager().clear()  # nothing cached: the pass must ask, and is refused
        texts.append(repr(token_services.token_refresh_all(margin=10**6)))
        settings.PROVIDERS_REQUIRE_HTTPS = False
        settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the key is gone
        texts.append(body(client.get("/api/providers")))
        texts.append(body(client.get(PAGE)))
        outage.reset()
    texts.append(log_text(all_logs))
    assert "Redis unavailable" in texts[-1] and "needs_reentry" in texts[-3]  # the faults really happened
    assert "did not answer within" in "".join(texts)
    assert "https, which PROVIDERS_REQUIRE_HTTPS requires" in texts[-4]
    assert_clean(texts, [GW_ID, secret])


def test_a_gateway_echoing_the_secret_in_its_model_list_does_not_leak_it(alice, all_logs):
    """Model details are the provider's free text: one that puts the secrets it was sent into
    `owned_by` or a display name gets them redacted before they are stored or shown."""
    echo = {
        "sim-fast": {"owned_by": GW_SECRET, "display_name": f"fast for {GW_ID}", "context_window": 128000},
        "sim-standard": {"owned_by": f"team {GW_ID}"},
    }
    with GatewaySimulator(
        client_id=GW_ID, client_secret=GW_SECRET, models=["sim-fast", "sim-standard"], model_info=echo
    ) as sim:
        client = csrf_client(alice)
        form = {
            "ai_gateway-client_id": GW_ID,
            "ai_gateway-client_secret": GW_SECRET,
            "ai_gateway-base_url": sim.base_url,
            "ai_gateway-token_url": sim.token_url,
        }
        texts = [body(page_post(client, f"{PAGE}ai_gateway/save", form))]
        payload = {"provider": "ai_gateway", "client_id": GW_ID, "client_secret": GW_SECRET, "base_url": sim.base_url}
        texts.append(body(api_post(client, "/api/providers/verify", payload)))
        texts.append(body(client.get("/api/providers")))
        texts.append(body(client.get(PAGE)))
    credential = ProviderCredential.objects.get(owner=alice, provider="ai_gateway")
    assert credential.model_ids == ["sim-fast", "sim-standard"]
    texts.append(json.dumps(credential.available_models))
    texts.append(log_text(all_logs))
    assert "[redacted]" in texts[-2]  # the details were kept, with the secrets taken out
    assert_clean(texts, [GW_SECRET, GW_ID])
