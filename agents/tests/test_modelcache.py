from __future__ import annotations

import pytest

from agents.modelcache import model_for
from agents.selectors import resolve

pytestmark = pytest.mark.django_db


def test_models_are_reused_until_the_credential_changes(alice, alice_gateway, gateway2):
    first, secrets = model_for(resolve(alice, "fast")[0])
    assert model_for(resolve(alice, "fast")[0])[0] is first
    assert gateway2.client_secret in secrets
    # Another tier is another model.
    assert model_for(resolve(alice, "premium")[0])[0] is not first
    # Any save of the credential (new secret, new URL, re-verification) builds a new one.
    alice_gateway.client_secret = "a-new-secret-value-123"
    alice_gateway.save()
    second, secrets = model_for(resolve(alice, "fast")[0])
    assert second is not first and "a-new-secret-value-123" in secrets


def test_platform_models_follow_the_settings(alice, platform_gateway, settings):
    first, _ = model_for(resolve(alice, "fast")[0])
    assert model_for(resolve(alice, "fast")[0])[0] is first
    settings.AI_GATEWAY_CLIENT_SECRET = "rotated-platform-secret"
    assert model_for(resolve(alice, "fast")[0])[0] is not first


def test_deleting_a_credential_drops_its_models(alice, alice_gateway):
    from agents import modelcache

    model_for(resolve(alice, "fast")[0])
    key = f"cred:{alice_gateway.pk}"
    assert any(k[0] == key for k in modelcache._models)
    alice_gateway.delete()
    assert not any(k[0] == key for k in modelcache._models)
