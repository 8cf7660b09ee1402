"""A client secret with non-ASCII characters works for every token lookup, and one broken
credential never stops a pre-refresh pass for the others. Real HTTP against the simulator."""

from __future__ import annotations

import logging

import pytest

from providers.gateway.refresh import RefreshAction
from providers.models import ProviderCredential
from providers.secrets import Secret
from providers.selectors import credential_config
from providers.services import tokens as token_services
from providers.services.tokens import token_refresh_all, token_refresh_one
from providers.testing.gateway_simulator import GatewaySimulator

SECRET = "sécret-Ünïcode-🔑-0001"


def test_secrets_compare_by_value_whatever_their_characters():
    assert Secret(SECRET) == Secret(SECRET)
    assert Secret(SECRET) != Secret(SECRET[:-1] + "2")
    assert Secret("ascii") != Secret(SECRET) and hash(Secret(SECRET)) == hash(Secret(SECRET))


@pytest.fixture
def unicode_sim():
    with GatewaySimulator(client_id="client-ü", client_secret=SECRET) as sim:
        yield sim


def _gateway_credential(owner, sim, **fields):
    return ProviderCredential.objects.create(
        owner=owner,
        provider="ai_gateway",
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        base_url=sim.base_url,
        token_url=sim.token_url,
        status="verified",
        **fields,
    )


@pytest.mark.django_db
def test_a_non_ascii_secret_gets_and_reuses_its_token(alice, unicode_sim, token_manager):
    cred = _gateway_credential(alice, unicode_sim)
    for _ in range(3):  # each run loads the credential afresh: new Secret objects every time
        config = credential_config(credential=ProviderCredential.objects.get(pk=cred.pk))
        assert token_manager.get_token(config)
    assert unicode_sim.token_requests == 1
    key = f"cred:{cred.pk}"
    assert token_refresh_one(key=key).action == RefreshAction.FRESH  # the beat task's lookups
    assert [r.action for r in token_refresh_all()] == [RefreshAction.FRESH]
    assert token_manager.refresh(config, force=True) and unicode_sim.token_requests == 2


@pytest.mark.django_db
def test_one_broken_credential_does_not_stop_the_pass(
    alice, bob, unicode_sim, gateway_sim, token_manager, monkeypatch, caplog
):
    broken = _gateway_credential(alice, unicode_sim)
    healthy = _gateway_credential(bob, gateway_sim)
    real_token_due = token_services.token_due

    def token_due(config, *, key, margin):
        if key == f"cred:{broken.pk}":
            raise TypeError("a bug this credential's data triggers")
        return real_token_due(config, key=key, margin=margin)

    monkeypatch.setattr(token_services, "token_due", token_due)
    monkeypatch.setattr("providers.gateway.refresh.token_due", token_due)
    with caplog.at_level(logging.ERROR, logger="providers.services.tokens"):
        results = {r.key: r for r in token_refresh_all()}
    assert results[f"cred:{healthy.pk}"].action == RefreshAction.REFRESHED
    assert results[f"cred:{broken.pk}"].action == RefreshAction.FAILED
    assert gateway_sim.token_requests == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(f"cred:{broken.pk}" in e and "TypeError" in e for e in errors)
    assert not any("a bug this" in e for e in errors)  # the type, not the text
    # The beat task's listing goes on too: the healthy credential is listed (fresh), the broken
    # one "due", so its own task reports it.
    status = {target.key: due for target, due in token_services.token_refresh_status()}
    assert status == {f"cred:{healthy.pk}": False, f"cred:{broken.pk}": True}
