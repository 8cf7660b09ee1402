"""`providers_verify` and `providers_rotate_keys`: output lines, filters, exit codes, no secrets.

Providers are local HTTP servers on 127.0.0.1 speaking each provider's wire format.
"""

from __future__ import annotations

import io
import re

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from providers.models import ProviderCredential, VerificationStatus

pytestmark = pytest.mark.django_db

GOOD_KEY = "sk-CANARY-good-openai-key-11112222"
BAD_KEY = "sk-CANARY-bad-openai-key-33334444"
LOST_KEY = "sk-CANARY-lost-key-55556666"
LINE = re.compile(r"^(?P<user>\S+) (?P<provider>\S+) (?P<outcome>[a-z_]+) (?P<message>.+)$")


def run(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("providers_verify", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def credential_lines(output: str) -> list[dict[str, str]]:
    return [
        m.groupdict()
        for line in output.splitlines()
        if (m := LINE.match(line)) and m["provider"] in {"openai", "anthropic", "gemini", "ai_gateway"}
    ]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert "CANARY" not in text
        assert "gAAAAA" not in text  # no ciphertext either


@pytest.fixture
def lost_rows(alice, bob, settings):
    """Credentials written under a key that is then removed: they fail as decryption_failed."""
    old = Fernet.generate_key().decode()
    current = settings.CREDENTIALS_ENCRYPTION_KEYS
    settings.CREDENTIALS_ENCRYPTION_KEYS = [old]
    rows = [
        ProviderCredential.objects.create(
            owner=alice, provider="anthropic", api_key=LOST_KEY, status=VerificationStatus.VERIFIED
        ),
        ProviderCredential.objects.create(owner=bob, provider="gemini", api_key=LOST_KEY),
        ProviderCredential.objects.create(owner=bob, provider="anthropic", api_key=LOST_KEY),
    ]
    settings.CREDENTIALS_ENCRYPTION_KEYS = current
    return rows


# --- providers_verify without any provider call --------------------------------------------------


def test_undecryptable_credentials_fail_one_line_each_and_exit_non_zero(lost_rows):
    out, err, error = run()
    assert error is not None
    assert "3 of 3 credential(s) failed" in str(error)
    lines = credential_lines(out)
    assert [(line["user"], line["provider"], line["outcome"]) for line in lines] == [
        ("alice", "anthropic", "decryption_failed"),
        ("bob", "anthropic", "decryption_failed"),
        ("bob", "gemini", "decryption_failed"),
    ]
    assert all("re-enter" in line["message"] for line in lines)
    assert_no_secret(out, err, str(error))
    # The outcome is recorded on the rows.
    for row in lost_rows:
        row.refresh_from_db()
        assert row.status == VerificationStatus.FAILED
        assert row.status_code == "decryption_failed"


@pytest.mark.parametrize(
    "args, expected",
    [
        (("--user", "alice"), [("alice", "anthropic")]),
        (("--user", "bob"), [("bob", "anthropic"), ("bob", "gemini")]),
        (("--provider", "anthropic"), [("alice", "anthropic"), ("bob", "anthropic")]),
        (("--user", "bob", "--provider", "gemini"), [("bob", "gemini")]),
    ],
)
def test_filters(lost_rows, args, expected):
    out, _err, error = run(*args)
    assert error is not None
    assert [(line["user"], line["provider"]) for line in credential_lines(out)] == expected


def test_no_matching_credentials_is_success(lost_rows):
    out, _err, error = run("--provider", "openai")
    assert error is None
    assert "No credentials matched." in out
    assert credential_lines(out) == []


def test_unknown_user_or_provider_is_an_error(lost_rows):
    for args, message in (
        (("--user", "nobody"), "No user named 'nobody'"),
        (("--provider", "cohere"), "Unknown provider 'cohere'"),
    ):
        out, _err, error = run(*args)
        assert error is not None and message in str(error)
        assert credential_lines(out) == []
    # Nothing was verified.
    assert not ProviderCredential.objects.exclude(status_code="").exists()


def test_exit_code_through_the_command_line(lost_rows):
    """CommandError becomes exit status 1 when run as `manage.py providers_verify`."""
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as info:
        ManagementUtility(["manage.py", "providers_verify", "--user", "alice"]).execute()
    assert info.value.code == 1


# --- providers_verify against local provider servers ---------------------------------------------


@pytest.fixture
def openai_server(settings):
    from providers.testing.fake_providers import FakeOpenAI

    with FakeOpenAI(valid_key=GOOD_KEY, models=["gpt-fast", "gpt-standard", "gpt-premium"]) as server:
        settings.PROVIDERS_OPENAI_BASE_URL = server.base_url
        yield server


def test_one_verified_one_invalid(openai_server, alice, bob, capfd, caplog):
    ok = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=GOOD_KEY)
    bad = ProviderCredential.objects.create(
        owner=bob, provider="openai", api_key=BAD_KEY, status=VerificationStatus.VERIFIED
    )
    out, err, error = run()
    assert error is not None and "1 of 2 credential(s) failed" in str(error)
    lines = {line["user"]: line for line in credential_lines(out)}
    assert lines["alice"]["outcome"] == "verified"
    assert "3 models" in lines["alice"]["message"]
    assert lines["bob"]["outcome"] == "invalid_credentials"
    assert len(credential_lines(out)) == 2
    captured = capfd.readouterr()
    assert_no_secret(out, err, str(error), captured.out, captured.err, caplog.text)
    ok.refresh_from_db()
    bad.refresh_from_db()
    assert ok.status == VerificationStatus.VERIFIED and ok.verified_at is not None
    assert ok.model_ids == ["gpt-fast", "gpt-standard", "gpt-premium"]
    assert bad.status == VerificationStatus.FAILED


def test_all_verified_exits_zero(openai_server, alice):
    ProviderCredential.objects.create(owner=alice, provider="openai", api_key=GOOD_KEY)
    out, err, error = run("--user", "alice")
    assert error is None
    assert [line["outcome"] for line in credential_lines(out)] == ["verified"]
    assert "1 of 1 credential(s) verified." in out
    assert_no_secret(out, err)


def test_user_filter_skips_the_failing_one(openai_server, alice, bob):
    ProviderCredential.objects.create(owner=alice, provider="openai", api_key=GOOD_KEY)
    ProviderCredential.objects.create(owner=bob, provider="openai", api_key=BAD_KEY)
    assert run("--user", "alice")[2] is None
    assert run("--user", "bob")[2] is not None
    assert openai_server.url  # both calls went to the local server


def test_gateway_credential_verifies_against_the_simulator(gateway, alice):
    from providers.tests.conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET

    ProviderCredential.objects.create(
        owner=alice,
        provider="ai_gateway",
        client_id=GATEWAY_CLIENT_ID,
        client_secret=GATEWAY_CLIENT_SECRET,
        base_url=gateway.url + "/v1",
        token_url=gateway.url + "/oauth/token",
    )
    out, err, error = run("--provider", "ai_gateway")
    assert error is None, out
    assert [(line["user"], line["outcome"]) for line in credential_lines(out)] == [("alice", "verified")]
    assert GATEWAY_CLIENT_SECRET not in out + err and GATEWAY_CLIENT_ID not in out + err
