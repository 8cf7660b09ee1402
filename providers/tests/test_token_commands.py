"""Management commands of the gateway runtime: providers_refresh_tokens, providers_list_models,
providers_gateway_simulator. Real HTTP against the gateway simulator on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from providers.models import ProviderCredential
from providers.selectors import platform_config
from providers.testing.gateway_simulator import GatewaySimulator

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform_gateway(platform_gateway, settings):
    """The shared platform gateway (conftest.py) with a scope of its own."""
    # A scope of its own, so the platform's token is not the one users' credentials share
    # (the token cache key is token URL, client id, scope and secret).
    settings.AI_GATEWAY_SCOPE = "platform"
    return platform_gateway


def _gateway_credential(owner, sim, *, secret=None, **fields) -> ProviderCredential:
    values = dict(
        owner=owner,
        provider="ai_gateway",
        client_id=sim.client_id,
        client_secret=secret or sim.client_secret,
        client_id_hint="…ient",
        secret_hint="…",
        base_url=sim.base_url,
        token_url=sim.token_url,
        status="verified",
    )
    values.update(fields)
    return ProviderCredential.objects.create(**values)


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _assert_no_secrets(text: str, sim: GatewaySimulator) -> None:
    assert sim.client_secret not in text
    for token in sim.issued_tokens:
        assert token not in text


def test_refresh_tokens_refreshes_active_credentials_once(platform_gateway, alice, bob, django_user_model):
    sim = platform_gateway
    mine = _gateway_credential(alice, sim)
    _gateway_credential(bob, sim, status="unverified")  # not active: never refreshed
    carol = django_user_model.objects.create_user("carol", password="carol-password-123")
    _gateway_credential(carol, sim, enabled=False)  # disabled: never refreshed

    out, err = _run("providers_refresh_tokens")
    assert sim.token_requests == 2  # alice's and the platform's, nothing else
    assert re.search(rf"refreshed\s+cred:{mine.pk}\s+alice's AI Gateway", out)
    assert re.search(r"refreshed\s+platform:ai_gateway", out)
    assert "2 credential(s)" in out and "2 refreshed" in out and not err
    _assert_no_secrets(out + err, sim)

    # Everything is fresh now: a second pass asks for nothing.
    out, _ = _run("providers_refresh_tokens")
    assert sim.token_requests == 2
    assert "2 fresh" in out


def test_dry_run_requests_no_token(platform_gateway, alice):
    sim = platform_gateway
    _gateway_credential(alice, sim)
    out, _ = _run("providers_refresh_tokens", "--dry-run")
    assert sim.token_requests == 0
    assert out.count("[dry run] would refresh") == 2 and "no token cached" in out


def test_only_tokens_expiring_within_the_margin_are_refreshed(platform_gateway):
    from providers.gateway.tokens import get_token_manager

    sim = platform_gateway
    config = platform_config("ai_gateway")
    sim.token_lifetime = 200  # shorter than the 300 s pre-refresh margin...
    get_token_manager().get_token(config)
    assert sim.token_requests == 1
    # ...but the margin is capped at half the token's own lifetime: a token a request just got
    # is not due (refreshing it would be a redundant token request).
    out, _ = _run("providers_refresh_tokens", "--dry-run")
    assert "fresh" in out and "would refresh" not in out

    sim.token_lifetime = 6  # due 3 s before expiry
    get_token_manager().refresh(config, force=True)
    time.sleep(3.3)  # under 2.7 s left: due (3 s), not yet within 1 s
    out, _ = _run("providers_refresh_tokens", "--margin", "1")  # not within 1 s yet
    assert "fresh" in out and sim.token_requests == 2
    out, _ = _run("providers_refresh_tokens", "--dry-run")
    assert "would refresh" in out and sim.token_requests == 2

    sim.token_lifetime = 3600
    out, _ = _run("providers_refresh_tokens")
    assert sim.token_requests == 3 and "refreshed" in out
    assert get_token_manager().expires_in(config) > 3000


def test_no_active_credentials(settings):
    settings.AI_GATEWAY_CLIENT_ID = ""
    out, _ = _run("providers_refresh_tokens")
    assert "No active AI Gateway credentials" in out


@pytest.mark.django_db(transaction=True)  # the token manager marks the credential failed from its own thread
def test_rejected_credential_is_reported_and_the_others_still_refresh(platform_gateway, alice, bob):
    sim = platform_gateway
    bad = _gateway_credential(alice, sim, secret="wrong-secret-value")
    good = _gateway_credential(bob, sim)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 gateway token refresh"):
        call_command("providers_refresh_tokens", stdout=out, stderr=err)
    assert re.search(rf"failed\s+cred:{bad.pk}", err.getvalue())
    assert re.search(rf"refreshed\s+cred:{good.pk}", out.getvalue())
    # invalid_client is permanent: asked once, not retried.
    assert sim.token_requests == 3
    assert "wrong-secret-value" not in out.getvalue() + err.getvalue()
    # Marked from the refresh's own thread after the waiters got the error: allow it a moment.
    deadline = time.monotonic() + 5
    while bad.status != "failed" and time.monotonic() < deadline:
        time.sleep(0.05)
        bad.refresh_from_db()
    assert bad.status == "failed"  # visible on the settings page and in admin
    # A failed credential is no longer active: the next pass leaves it alone.
    out, _ = _run("providers_refresh_tokens")
    assert f"cred:{bad.pk}" not in out and sim.token_requests == 3


def test_undecryptable_credential_is_reported(settings, platform_gateway, alice):
    from cryptography.fernet import Fernet

    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    cred = _gateway_credential(alice, platform_gateway)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is gone
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("providers_refresh_tokens", stdout=StringIO(), stderr=err)
    assert re.search(rf"failed\s+cred:{cred.pk}.*re-enter", err.getvalue())


def test_list_models_platform_and_user(platform_gateway, alice):
    sim = platform_gateway
    out, _ = _run("providers_list_models", "--provider", "ai_gateway")
    assert out.split() == list(sim.models)
    own = GatewaySimulator(models=("own-a", "own-b"))
    with own:
        _gateway_credential(alice, own)
        out, _ = _run("providers_list_models", "--provider", "ai_gateway", "--user", "alice")
        assert out.split() == ["own-a", "own-b"]


def test_list_models_details_show_what_the_gateway_reports(platform_gateway):
    sim = platform_gateway
    out, _ = _run("providers_list_models", "--provider", "ai_gateway", "--details")
    rows = [line.split("\t") for line in out.splitlines()]
    assert [row[0] for row in rows] == list(sim.models)
    # The simulator reports a context length for each model (under a different field name each).
    assert all(len(row) == 2 and row[1].endswith(" context") for row in rows), rows


def test_list_models_errors_are_clear(settings, platform_gateway, alice):
    with pytest.raises(CommandError, match="no ai_gateway credential"):
        _run("providers_list_models", "--provider", "ai_gateway", "--user", "alice")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        _run("providers_list_models", "--provider", "ai_gateway", "--user", "nobody")
    with pytest.raises(CommandError, match="nope"):
        _run("providers_list_models", "--provider", "nope")
    settings.OPENAI_API_KEY = ""
    with pytest.raises(CommandError, match="No platform credential for openai: set OPENAI_API_KEY"):
        _run("providers_list_models", "--provider", "openai")
    settings.AI_GATEWAY_CLIENT_SECRET = "not-the-secret"
    with pytest.raises(CommandError, match="CredentialInvalid") as exc:
        _run("providers_list_models", "--provider", "ai_gateway")
    assert "not-the-secret" not in str(exc.value)


def test_gateway_simulator_command_serves_until_interrupted():
    env = {**os.environ, "DJANGO_DEBUG": "true", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "providers_gateway_simulator",
            "--port",
            "0",
            "--client-id",
            "demo-id",
            "--client-secret",
            "demo-secret",
            "--token-lifetime",
            "120",
            "--chunk-delay-ms",
            "40",
            "--answers",
            "echo",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = err = ""
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("Ctrl-C"):
                break
            name, sep, value = line.strip().partition("=")
            if sep:
                lines[name] = value
        assert lines["AI_GATEWAY_ENABLED"] == "true" and lines["AI_GATEWAY_CLIENT_ID"] == "demo-id"
        token = httpx.post(
            lines["AI_GATEWAY_TOKEN_URL"], data={"grant_type": "client_credentials"}, auth=("demo-id", "demo-secret")
        )
        assert token.status_code == 200 and token.json()["expires_in"] == 120
        models = httpx.get(
            lines["AI_GATEWAY_BASE_URL"] + "/models",
            headers={"Authorization": "Bearer " + token.json()["access_token"]},
        )
        assert [m["id"] for m in models.json()["data"]] == [
            lines[f"AI_GATEWAY_{t}_MODEL"] for t in ("FAST", "STANDARD", "PREMIUM")
        ]
        # --chunk-delay-ms: the 5 chunks of a streamed answer ("Echo: a b c") are 40 ms apart.
        started = time.monotonic()
        with httpx.stream(
            "POST",
            lines["AI_GATEWAY_BASE_URL"] + "/chat/completions",
            headers={"Authorization": "Bearer " + token.json()["access_token"]},
            json={"model": "sim-fast", "stream": True, "messages": [{"role": "user", "content": "a b c"}]},
        ) as stream:
            body = stream.read().decode()
        assert "[DONE]" in body and time.monotonic() - started >= 0.15
    finally:
        # Always stop it, even when an assertion above failed or it ignores SIGINT.
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped after 1 token and 2 API request(s)" in out


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_gateway_simulator_command_stops_on_a_signal_even_started_in_the_background(stop):
    """A background job of a shell starts with SIGINT ignored; Ctrl-C (or kill) must still stop it."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "providers_gateway_simulator", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` does
    )
    try:
        for line in proc.stdout:
            if line.startswith("Ctrl-C"):
                break
        proc.send_signal(stop)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Simulator stopped after" in out


def test_gateway_simulator_command_refuses_a_bad_chunk_delay():
    with pytest.raises(CommandError, match="--chunk-delay-ms must be between 0 and 5000"):
        call_command("providers_gateway_simulator", "--port", "0", "--chunk-delay-ms", "-5")
