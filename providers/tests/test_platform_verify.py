"""`providers_verify` checks the platform's own credentials from the environment too."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from providers.models import CredentialAuditEvent, ProviderCredential
from providers.services.credentials import platform_verification

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("providers_verify", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_the_platform_gateway_is_verified_from_the_environment(platform_gateway):
    out, error = run()
    assert error is None, out
    assert "platform ai_gateway verified" in out and "1 of 1 credential(s) verified." in out
    assert platform_gateway.token_requests >= 1
    assert platform_verification(provider="ai_gateway")["outcome"] == "verified"
    assert platform_gateway.client_secret not in out


def test_a_rejected_platform_secret_fails_the_command(settings, platform_gateway):
    settings.AI_GATEWAY_CLIENT_SECRET = "wrong-platform-secret-0001"
    out, error = run()
    assert error is not None and "1 of 1 credential(s) failed" in str(error)
    assert "platform ai_gateway invalid_credentials" in out
    assert "wrong-platform-secret-0001" not in out
    assert platform_verification(provider="ai_gateway")["outcome"] == "invalid_credentials"


def test_no_platform_and_user_filters_skip_it(alice, platform_gateway):
    out, error = run("--no-platform")
    assert error is None and "No credentials matched." in out
    out, error = run("--user", "alice")
    assert "platform" not in out


def test_stored_verifications_from_the_shell_are_audited_as_an_operator(alice, fake_openai):
    from providers.tests.conftest import OPENAI_KEY

    ProviderCredential.objects.create(owner=alice, provider="openai", api_key=OPENAI_KEY)
    out, error = run("--no-platform")
    assert error is None, out
    (event,) = CredentialAuditEvent.objects.all()
    assert (event.action, event.actor_kind, event.actor_name, event.outcome) == (
        "verify",
        "operator",
        "manage.py providers_verify",
        "verified",
    )
