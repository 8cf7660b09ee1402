"""The per-user verification budget (PROVIDERS_VERIFY_RATE_LIMIT): checked before any outbound
request on the settings page and the JSON API; shared through Redis; no 500 when Redis is down.

The provider is a local fake on 127.0.0.1 (real HTTP) that counts the requests it gets.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid

import pytest
from django.test import Client

from ideaforge import ratelimit
from providers.models import ProviderCredential

from .conftest import OPENAI_KEY

pytestmark = pytest.mark.django_db

PAGE = "/settings/providers/"
VERIFY, CONFIGURE = "/api/providers/verify", "/api/providers/configure"


@pytest.fixture
def budget(settings):
    settings.PROVIDERS_VERIFY_RATE_LIMIT = "3/minute"
    return 3


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(client: Client, url: str, payload: dict):
    return client.post(url, json.dumps(payload), content_type="application/json")


def assert_limited_json(response) -> int:
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= 60
    assert response.json() == {"errors": {"__all__": [f"Too many verification attempts; try again in {seconds} s."]}}
    return seconds


def test_the_default_budget_is_ten_a_minute():
    from providers.conf import app_settings

    assert app_settings.VERIFY_RATE_LIMIT == "10/minute"


def test_api_verify_answers_429_once_the_budget_is_spent_and_calls_nobody(alice, fake_openai, budget):
    client = client_for(alice)
    payload = {"provider": "openai", "api_key": OPENAI_KEY}
    assert [api(client, VERIFY, payload).status_code for _ in range(budget)] == [200] * budget
    calls = len(fake_openai.requests)
    assert_limited_json(api(client, VERIFY, payload))
    assert len(fake_openai.requests) == calls  # refused before any outbound request


def test_api_configure_shares_the_budget_and_stores_nothing_when_refused(alice, fake_openai, budget):
    client = client_for(alice)
    for _ in range(budget):
        api(client, VERIFY, {"provider": "openai", "api_key": OPENAI_KEY})
    calls = len(fake_openai.requests)
    assert_limited_json(api(client, CONFIGURE, {"provider": "openai", "api_key": OPENAI_KEY}))
    assert len(fake_openai.requests) == calls
    assert not ProviderCredential.objects.filter(owner=alice).exists()


def test_the_settings_page_shows_the_same_message_with_429_and_stores_nothing(alice, fake_openai, budget):
    client = client_for(alice)
    for _ in range(budget):
        client.post(f"{PAGE}openai/verify", {"openai-api_key": OPENAI_KEY})
    calls = len(fake_openai.requests)
    response = client.post(f"{PAGE}openai/save", {"openai-api_key": OPENAI_KEY})
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert f"Too many verification attempts; try again in {seconds} s." in response.content.decode()
    assert len(fake_openai.requests) == calls
    assert not ProviderCredential.objects.filter(owner=alice).exists()


def test_the_budget_is_per_user(alice, bob, fake_openai, budget):
    for _ in range(budget + 1):
        api(client_for(alice), VERIFY, {"provider": "openai", "api_key": OPENAI_KEY})
    assert api(client_for(bob), VERIFY, {"provider": "openai", "api_key": OPENAI_KEY}).status_code == 200


@pytest.mark.redis
def test_the_budget_is_shared_through_redis(alice, fake_openai, budget, settings, redis_url):
    settings.RATELIMIT_STORAGE_URL = redis_url
    settings.RATELIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    client = client_for(alice)
    for _ in range(budget):
        assert api(client, VERIFY, {"provider": "openai", "api_key": OPENAI_KEY}).status_code == 200
    # A process that has never seen this user (this one, its memory forgotten) is refused too.
    ratelimit.reset()
    assert_limited_json(api(client, VERIFY, {"provider": "openai", "api_key": OPENAI_KEY}))


def test_redis_down_keeps_answering_and_limiting_per_process(alice, fake_openai, budget, settings, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.RATELIMIT_STORAGE_URL = f"redis://127.0.0.1:{port}/0"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="ideaforge.ratelimit")
    client = client_for(alice)
    statuses = [
        api(client, VERIFY, {"provider": "openai", "api_key": OPENAI_KEY}).status_code for _ in range(budget + 2)
    ]
    assert statuses == [200] * budget + [429, 429]
    assert len([r for r in caplog.records if r.name == "ideaforge.ratelimit"]) == 1
