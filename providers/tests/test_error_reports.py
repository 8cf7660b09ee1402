"""Error reports (Django's ExceptionReporter: the e-mails to ADMINS, error trackers built on it)
never carry a secret that was posted or decrypted.

Each test makes the code under a view (or a service) raise while a canary secret is in the
request body or in a frame's locals, renders the report as text and as HTML, and checks that
the canary is absent while the report itself is there (the exception and the request are in it).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.signals import got_request_exception
from django.test import Client, RequestFactory
from django.views.debug import ExceptionReporter

from providers import api
from providers.admin import ProviderCredentialAdmin
from providers.models import ProviderCredential
from providers.services import credentials
from providers.services.credential_input import CredentialInput

pytestmark = pytest.mark.django_db

CANARY = "sk-CANARY-report-4b1d9e7a55"
GW_SECRET = "gw-CANARY-report-secret-77c3"


def assert_report_clean(request, exc_info, *, where: str) -> None:
    reporter = ExceptionReporter(request, *exc_info)
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert "RuntimeError" in report and where in report  # a real report of this failure
        assert CANARY not in report and GW_SECRET not in report
        assert CANARY[:12] not in report


def explode(**kwargs):
    """A service that fails while holding the submitted secret in plain text."""
    data = kwargs["data"]
    plain = data.api_key or data.client_secret  # noqa: F841 (what a careless helper would keep)
    raise RuntimeError("the provider exploded")


@contextmanager
def captured_request_exception() -> Iterator[list]:
    """(request, exc_info) of the exception a view raised, as Django's handler saw it."""
    seen: list = []

    def receiver(sender, request, **kwargs):
        seen.append((request, sys.exc_info()))

    got_request_exception.connect(receiver)
    try:
        yield seen
    finally:
        got_request_exception.disconnect(receiver)


@pytest.mark.parametrize("action,service", [("verify", "credential_verify_input"), ("save", "credential_save")])
def test_settings_page_posts(alice, monkeypatch, action, service):
    monkeypatch.setattr(credentials, service, explode)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    with captured_request_exception() as seen:
        response = client.post(
            f"/settings/providers/openai/{action}", {"openai-api_key": CANARY, "openai-default_model": "gpt-4o"}
        )
    assert response.status_code == 500 and len(seen) == 1
    request, exc_info = seen[0]
    assert_report_clean(request, exc_info, where="openai-api_key")


class ExcInfoHandler(logging.Handler):
    """The JSON API answers 500 itself and logs the failure: keep the exception being handled."""

    def __init__(self) -> None:
        super().__init__()
        self.exc_info = None

    def emit(self, record: logging.LogRecord) -> None:
        self.exc_info = sys.exc_info()


@pytest.mark.parametrize(
    "view,service", [(api.provider_verify, "credential_verify_input"), (api.provider_configure, "credential_save")]
)
@pytest.mark.parametrize(
    "payload",
    [
        {"provider": "openai", "api_key": CANARY},
        {
            "provider": "ai_gateway",
            "client_id": "gw-id-1234",
            "client_secret": GW_SECRET,
            "base_url": "https://gateway.example.com/v1",
        },
    ],
)
def test_json_api(alice, monkeypatch, view, service, payload):
    monkeypatch.setattr(credentials, service, explode)
    request = RequestFactory().post("/api/providers/x", json.dumps(payload), content_type="application/json")
    request.user = alice
    request._dont_enforce_csrf_checks = True
    handler = ExcInfoHandler()
    logging.getLogger("providers.api").addHandler(handler)
    try:
        response = view(request)
    finally:
        logging.getLogger("providers.api").removeHandler(handler)
    assert response.status_code == 500 and handler.exc_info is not None
    assert_report_clean(request, handler.exc_info, where="/api/providers/x")


@pytest.fixture
def staff_client(django_user_model) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("operator", password="op-password-123"))
    return client


def test_admin_change_form(alice, staff_client, monkeypatch):
    def failing_save(self, request, obj, form, change):
        plain = form.cleaned_data["new_api_key"]  # noqa: F841
        raise RuntimeError("the database exploded")

    monkeypatch.setattr(ProviderCredentialAdmin, "save_model", failing_save)
    data = {
        "owner": str(alice.pk),
        "provider": "openai",
        "priority": "0",
        "enabled": "on",
        "token_auth_method": "client_secret_basic",
        "new_api_key": CANARY,
        "new_client_id": "",
        "new_client_secret": "",
    }
    for url in ("/admin/providers/providercredential/add/", None):
        if url is None:  # the change form of an existing credential
            url = f"/admin/providers/providercredential/{ProviderCredential.objects.create(owner=alice, provider='openai').pk}/change/"
        with captured_request_exception() as seen:
            response = staff_client.post(url, data)
        assert response.status_code == 500 and len(seen) == 1
        request, exc_info = seen[0]
        assert_report_clean(request, exc_info, where="new_api_key")


def test_a_service_failing_after_decryption_or_before_encryption(alice, settings):
    """No view around it (a Celery task, a command): the service's own frames hide the secret."""
    from providers.testing.fake_providers import FakeOpenAI

    with FakeOpenAI(valid_key=CANARY) as fake:
        settings.PROVIDERS_OPENAI_BASE_URL = fake.base_url
        settings.CREDENTIALS_ENCRYPTION_KEYS = []  # verified, then storing fails in encryption
        with pytest.raises(Exception) as raised:
            credentials.credential_save(user=alice, provider="openai", data=CredentialInput(api_key=CANARY))
    exc_info = (raised.type, raised.value, raised.tb)
    reporter = ExceptionReporter(None, *exc_info)
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert "get_prep_value" in report and CANARY not in report


# The key is also in the headers of httpx's `Client.stream()`, a context manager whose frame
# Django's sensitive_variables cannot tie to list_models: ideaforge.errorreports covers it.
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_backend_failing_while_holding_the_key(provider, monkeypatch):
    import httpx

    from providers import registry
    from providers.secrets import Secret
    from providers.types import CredentialConfig

    def failing_send(*args, **kwargs):
        raise RuntimeError("the connection exploded")

    monkeypatch.setattr(httpx.Client, "send", failing_send)
    with pytest.raises(RuntimeError) as raised:
        registry.get(provider).list_models(CredentialConfig(provider=provider, api_key=Secret(CANARY)))
    reporter = ExceptionReporter(None, raised.type, raised.value, raised.tb)
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert "list_models" in report and CANARY not in report
