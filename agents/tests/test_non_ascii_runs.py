"""Agent runs on a gateway credential whose client secret is not ASCII: every run answers (the
token lookups compared secrets as str and crashed, then every later run failed)."""

from __future__ import annotations

import pytest

from agents.catalog import AGENTS
from agents.modelcache import model_cache_clear
from agents.models import AgentRun, RunStatus
from agents.services import run_agent
from providers.snapshots import snapshots_clear
from providers.testing.gateway_simulator import GatewaySimulator

pytestmark = pytest.mark.django_db(transaction=True)


def test_runs_on_a_non_ascii_secret_keep_answering(alice, make_credential):
    with GatewaySimulator(client_id="client-ü", client_secret="sécret-Ünïcode-🔑-0002") as sim:
        cred = make_credential(
            alice,
            "ai_gateway",
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            base_url=sim.base_url,
            token_url=sim.token_url,
            fast_model="sim-fast",
        )
        for i in range(3):
            # As after another process's write or a snapshot's expiry: the credential is loaded
            # again, so its secrets are new objects and the token key cache compares them.
            snapshots_clear()
            model_cache_clear()
            result = run_agent(agent=AGENTS["idea_generator"], user=alice, prompt=f"run {i}")
            assert result.text == f"Echo: run {i}"
            assert result.run.credential_key == f"cred:{cred.pk}"
        assert sim.token_requests == 1
    assert AgentRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 3
