"""System checks on the encryption keys, and the database constraints on ProviderCredential."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ideaforge import testing
from providers.checks import check_encryption_keys
from providers.models import ProviderCredential

KEY = Fernet.generate_key().decode()


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [m.id for m in messages]


# --- encryption key checks -----------------------------------------------------------------------


def test_production_without_keys_is_critical(settings):
    settings.DEBUG = False
    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    messages = check_encryption_keys()
    assert ids(messages) == ["providers.E001"]
    assert messages[0].level == checks.CRITICAL


def test_production_with_blank_entries_counts_as_no_keys(settings):
    settings.DEBUG = False
    settings.CREDENTIALS_ENCRYPTION_KEYS = ["", "  "]
    assert ids(check_encryption_keys()) == ["providers.E001"]


def test_key_equal_to_secret_key_is_critical(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = KEY
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), KEY]
    messages = check_encryption_keys()
    assert ids(messages) == ["providers.E002"]
    assert messages[0].level == checks.CRITICAL
    assert KEY not in messages[0].msg and KEY not in (messages[0].hint or "")


def test_invalid_key_is_critical_and_names_its_position_not_its_value(settings):
    settings.DEBUG = False
    bad = "this-is-not-a-fernet-key"
    settings.CREDENTIALS_ENCRYPTION_KEYS = [KEY, bad]
    messages = check_encryption_keys()
    assert ids(messages) == ["providers.E003"]
    assert "#2" in messages[0].msg
    assert bad not in messages[0].msg


def test_debug_without_key_is_a_warning(settings):
    settings.DEBUG = True
    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    messages = check_encryption_keys()
    assert ids(messages) == ["providers.W001"]
    assert messages[0].level == checks.WARNING


def test_good_keys_pass(settings):
    settings.DEBUG = False
    settings.CREDENTIALS_ENCRYPTION_KEYS = [KEY, Fernet.generate_key().decode()]
    assert check_encryption_keys() == []


def test_check_is_registered_and_stops_manage_py_check(settings):
    settings.DEBUG = False
    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    with pytest.raises(SystemCheckError, match=r"providers\.E001"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


# --- database constraints ------------------------------------------------------------------------

COLUMNS = (
    "owner_id",
    "provider",
    "api_key",
    "client_id",
    "client_secret",
    "secret_hint",
    "client_id_hint",
    "base_url",
    "token_url",
    "scope",
    "token_auth_method",
    "default_model",
    "fast_model",
    "standard_model",
    "premium_model",
    "available_models",
    "priority",
    "enabled",
    "status",
    "status_code",
    "last_error",
    "created_at",
    "updated_at",
)


def raw_insert(owner_id: int, provider: str, token_auth_method: str = "client_secret_basic") -> None:
    """INSERT straight into the table, bypassing the ORM and model validation."""
    now = timezone.now()
    values = [
        owner_id,
        provider,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        token_auth_method,
        "",
        "",
        "",
        "",
        "[]",
        100,
        True,
        "unverified",
        "",
        "",
        now,
        now,
    ]
    sql = "INSERT INTO providers_providercredential ({}) VALUES ({})".format(
        ", ".join(COLUMNS), ", ".join(["%s"] * len(COLUMNS))
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, values)


@pytest.mark.django_db
def test_raw_insert_of_a_known_provider_works(alice):
    # Proves the raw INSERT below is otherwise valid, so its failures are the constraint's doing.
    raw_insert(alice.pk, "openai")
    assert ProviderCredential.objects.get(owner=alice).provider == "openai"


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["cohere", "", "OpenAI", "openai ", "ai-gateway"])
def test_raw_insert_of_an_unknown_provider_is_rejected(alice, provider):
    with pytest.raises(IntegrityError):
        raw_insert(alice.pk, provider)
    assert not ProviderCredential.objects.exists()


@pytest.mark.django_db
def test_orm_create_update_and_bulk_create_reject_unknown_provider(alice, bob):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderCredential.objects.create(owner=alice, provider="cohere")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderCredential.objects.bulk_create([ProviderCredential(owner=bob, provider="mistral")])
    cred = ProviderCredential.objects.create(owner=alice, provider="gemini")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderCredential.objects.filter(pk=cred.pk).update(provider="cohere")
    cred.refresh_from_db()
    assert cred.provider == "gemini"
    assert ProviderCredential.objects.count() == 1


@pytest.mark.django_db
def test_raw_update_to_unknown_provider_is_rejected(alice):
    raw_insert(alice.pk, "anthropic")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE providers_providercredential SET provider = %s", ["cohere"])
    assert ProviderCredential.objects.get().provider == "anthropic"


@pytest.mark.django_db
def test_unknown_token_auth_method_is_rejected(alice):
    with pytest.raises(IntegrityError):
        raw_insert(alice.pk, "ai_gateway", token_auth_method="private_key_jwt")


@pytest.mark.django_db
def test_one_credential_per_owner_and_provider(alice):
    raw_insert(alice.pk, "openai")
    with pytest.raises(IntegrityError):
        raw_insert(alice.pk, "openai")


# --- every environment variable is documented ----------------------------------------------------


@pytest.mark.parametrize("document", testing.DOCUMENTS)
def test_every_settings_env_var_is_documented(document):
    names = testing.settings_env_vars()
    assert {"DJANGO_DEBUG", "CREDENTIALS_ENCRYPTION_KEYS", "AI_GATEWAY_CLIENT_SECRET"} <= names  # the regex works
    missing = testing.undocumented(names, document)
    assert not missing, f"{document} does not mention: {', '.join(missing)}"
