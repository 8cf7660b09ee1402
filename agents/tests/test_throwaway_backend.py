"""Adding a provider is one backend module, one PROVIDERS_BACKENDS line and `makemigrations`.

The proof: `AcmeBackend` below is defined here and nowhere else. The test registers it through
the setting, reloads the registry, applies the migration `makemigrations` would write for it (the
provider CheckConstraint widened), and then drives every surface through it without any other
source file knowing the id "acme": the settings page, the JSON API, the admin, resolution and
real agent runs. Acme speaks OpenAI's wire format, so the local fake `FakeOpenAIChat` stands in
for it. It lives with the agents' tests because it follows the provider all the way to a run, and
only `agents` may import both apps (`providers` never imports `agents`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState
from django.db.models import CheckConstraint, Q
from django.test import Client
from django.test.utils import override_settings

from agents.catalog import AGENTS
from agents.selectors import resolve
from agents.services import run_agent
from providers import agno_support, registry
from providers.backends.base import BaseBackend
from providers.exceptions import CredentialInvalid, UnexpectedResponse
from providers.http.client import get_json, new_client
from providers.models import ProviderCredential
from providers.testing.fake_chat import FakeOpenAIChat
from providers.types import CredentialConfig

ACME_KEY = "acme-key-valid-0123456789"
ACME_MODELS = ["acme-mini", "acme-large", "acme-max"]
PAGE = "/settings/providers/"


class AcmeBackend(BaseBackend):
    """A made-up API-key provider with an OpenAI-compatible API at `ACME_BASE_URL`."""

    id = "acme"
    name = "Acme AI"
    help_text = "An API key from acme.example. It is verified by listing your models."
    default_tier_models: ClassVar[dict[str, str]] = {
        "fast": "acme-mini",
        "standard": "acme-large",
        "premium": "acme-max",
    }
    platform_key_setting = "ACME_API_KEY"
    model_settings = ("ACME_BASE_URL",)

    def setting(self, name: str) -> Any:
        # Acme's settings are its own: providers.conf does not know them.
        return getattr(django_settings, name, "")

    def list_models(self, config: CredentialConfig) -> list[str]:
        if not config.api_key:
            raise CredentialInvalid("No API key was given", provider=self.id, code="missing_key")
        url = self.setting("ACME_BASE_URL").rstrip("/") + "/models"
        with new_client(enforce_policy=False) as client:
            payload = get_json(
                client, url, headers={"Authorization": f"Bearer {config.api_key.reveal()}"}, provider=self.id
            )
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise UnexpectedResponse(f"{self.id}: the model list is missing", provider=self.id)
        return [item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]

    def agno_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        from agno.models.openai.like import OpenAILike
        from openai import Timeout

        timeout = Timeout(**agno_support.http_timeout(options).as_dict())
        return agno_support.per_loop(OpenAILike)(
            id=model_id,
            api_key=agno_support.api_key(config),
            base_url=self.setting("ACME_BASE_URL"),
            max_retries=0,
            client_params={"timeout": timeout},
            **options,
        )


ACME_PATH = f"{__name__}.AcmeBackend"


def _migration_for_current_models() -> tuple[Migration, ProjectState]:
    """The providers migration `makemigrations` would write now, and the state it applies to."""
    loader = MigrationLoader(connection)
    before = loader.project_state()
    changes = MigrationAutodetector(before, ProjectState.from_apps(apps), NonInteractiveMigrationQuestioner()).changes(
        graph=loader.graph,
        trim_to_apps={"providers"},
    )
    (migration,) = changes["providers"]
    return migration, before


@pytest.fixture
def acme_fake() -> Iterator[FakeOpenAIChat]:
    with FakeOpenAIChat(valid_key=ACME_KEY, models=ACME_MODELS) as fake:
        yield fake


@pytest.fixture
def acme(transactional_db, acme_fake, monkeypatch) -> Iterator[FakeOpenAIChat]:
    """Acme registered after the four built-in backends, its migration applied; undone after.

    `transactional_db`: SQLite cannot change a table's schema inside the test's transaction."""
    backends = [*django_settings.PROVIDERS_BACKENDS, ACME_PATH]
    try:
        with override_settings(PROVIDERS_BACKENDS=backends, ACME_BASE_URL=acme_fake.base_url, ACME_API_KEY=""):
            registry.load()
            # What a restart gives after the setting changes: the model's Meta built from the new list.
            meta = ProviderCredential._meta
            old = next(c for c in meta.constraints if c.name == "providers_credential_provider_known")
            new = CheckConstraint(condition=Q(provider__in=registry.configured_ids()), name=old.name)
            monkeypatch.setattr(meta, "constraints", [new if c is old else c for c in meta.constraints])
            migration, state = _migration_for_current_models()
            assert [type(op).__name__ for op in migration.operations] == ["RemoveConstraint", "AddConstraint"]
            with connection.schema_editor() as editor:
                migration.apply(state.clone(), editor)
            try:
                yield acme_fake
            finally:
                ProviderCredential.objects.filter(provider=AcmeBackend.id).delete()
                with connection.schema_editor() as editor:
                    migration.unapply(state.clone(), editor)
    finally:
        registry.load()  # the four built-in backends again


def test_acme_is_unknown_without_its_registry_line():
    assert AcmeBackend.id not in registry.ids()
    assert AcmeBackend.id not in registry.configured_ids()


@pytest.mark.django_db
def test_makemigrations_is_clean_for_the_configured_backends():
    call_command("makemigrations", "providers", "--check", "--dry-run", verbosity=0)


def test_settings_page_verify_and_save(acme, alice):
    client = Client()
    client.force_login(alice)
    page = client.get(PAGE).content.decode()
    assert 'id="provider-acme"' in page and "Acme AI" in page and AcmeBackend.help_text in page
    assert 'name="acme-api_key"' in page

    response = client.post(f"{PAGE}acme/verify", {"acme-api_key": ACME_KEY}, follow=True)
    assert "Acme AI: Verified: the provider offers 3 models. (Nothing was saved.)" in response.content.decode()
    assert not ProviderCredential.objects.filter(owner=alice).exists()

    response = client.post(
        f"{PAGE}acme/save", {"acme-api_key": ACME_KEY, "acme-default_model": "acme-large"}, follow=True
    )
    html = response.content.decode()
    assert "Acme AI: saved. Verified: the provider offers 3 models." in html
    assert ACME_KEY not in html
    credential = ProviderCredential.objects.get(owner=alice, provider="acme")
    assert credential.model_ids == ACME_MODELS and credential.default_model == "acme-large"
    assert credential.api_key.secret().reveal() == ACME_KEY

    response = client.post(f"{PAGE}acme/save", {"acme-api_key": "acme-key-wrong-000000000"}, follow=True)
    assert "Invalid credentials" in response.content.decode()
    credential.refresh_from_db()
    assert credential.api_key.secret().reveal() == ACME_KEY


def test_json_api_verify_configure_list(acme, alice):
    client = Client()
    client.force_login(alice)
    body = {"provider": "acme", "api_key": ACME_KEY}
    verified = client.post("/api/providers/verify", body, content_type="application/json")
    assert verified.status_code == 200 and verified.json()["ok"] is True and verified.json()["models"] == ACME_MODELS

    configured = client.post(
        "/api/providers/configure", {**body, "models": {"fast": "acme-max"}}, content_type="application/json"
    )
    assert configured.status_code == 200, configured.content
    assert configured.json()["saved"] is True
    assert configured.json()["credential"]["name"] == "Acme AI"
    assert configured.json()["credential"]["tier_models"]["fast"] == "acme-max"

    listing = client.get("/api/providers")
    items = {item["provider"]: item for item in listing.json()["providers"]}
    assert items["acme"]["source"] == "user" and items["acme"]["hint"] and ACME_KEY not in listing.content.decode()


def test_resolve_and_run_an_agent_through_acme(acme, alice, bob):
    client = Client()
    client.force_login(alice)
    saved = client.post(
        "/api/providers/configure", {"provider": "acme", "api_key": ACME_KEY}, content_type="application/json"
    )
    assert saved.json()["saved"] is True

    (candidate,) = resolve(alice, "standard")
    assert (candidate.provider, candidate.model_id, candidate.source) == ("acme", "acme-large", "user")
    assert candidate.label == "Acme AI acme-large (your credential)"

    result = run_agent(agent=AGENTS["idea_generator"], user=alice, prompt="rooftop gardens")
    assert result.text == "Echo: rooftop gardens"
    assert (result.run.provider, result.run.model_id, result.run.credential_source) == ("acme", "acme-mini", "user")
    assert acme.chat_requests == 1
    assert all(ACME_KEY in str(r.headers) for r in acme.requests)

    # The operator's env key for Acme is a platform credential too, for users without their own.
    assert resolve(bob, "fast") == []
    with override_settings(ACME_API_KEY=ACME_KEY):  # nested in `acme`'s override, undone first
        (platform,) = resolve(bob, "fast")
        assert (platform.provider, platform.source, platform.key) == ("acme", "platform", "platform:acme")
        result = run_agent(agent=AGENTS["idea_generator"], user=bob, prompt="from the platform")
    assert result.text == "Echo: from the platform" and result.run.credential_key == "platform:acme"
    assert resolve(bob, "fast") == []


@pytest.mark.django_db
def test_without_its_migration_the_table_refuses_acme(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderCredential.objects.create(owner=alice, provider="acme", api_key=ACME_KEY)


def test_with_its_migration_the_constraint_still_guards_the_table(acme, alice):
    ProviderCredential.objects.create(owner=alice, provider="acme", api_key=ACME_KEY)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderCredential.objects.create(owner=alice, provider="not-registered", api_key=ACME_KEY)


def test_admin_offers_acme_and_its_secret(acme, admin_client):
    html = admin_client.get("/admin/providers/providercredential/add/").content.decode()
    assert '<option value="acme">Acme AI</option>' in html
    assert "OpenAI, Anthropic, Gemini, Acme AI. Leave empty to keep the stored key." in html
