"""The admin's Provider health view: every credential with status, token, breaker, error rate."""

from __future__ import annotations

import pytest

from agents.breaker import breaker_open
from agents.models import AgentRun, RunStatus
from agents.provider_health import provider_health
from providers.gateway.tokens import get_token_manager
from providers.selectors import platform_config

pytestmark = pytest.mark.django_db(transaction=True)


def _runs(user, key: str, provider: str, *, ok: int, failed: int) -> list[AgentRun]:
    made = []
    for status, n in ((RunStatus.SUCCEEDED, ok), (RunStatus.FAILED, failed)):
        for _ in range(n):
            made.append(
                AgentRun.objects.create(
                    user=user, agent="idea_generator", tier="fast", provider=provider, credential_key=key, status=status
                )
            )
    return made


def test_every_credential_with_its_state(admin_client, alice, platform_gateway, alice_openai):
    get_token_manager().get_token(platform_config("ai_gateway"))
    breaker_open(f"cred:{alice_openai.pk}", "gpt-fast", seconds=30)  # her fast model
    _runs(alice, f"cred:{alice_openai.pk}", "openai", ok=3, failed=1)
    rows = {row.key: row for row in provider_health()}
    platform = rows["platform:ai_gateway"]
    assert platform.owner == "platform" and platform.token_relevant and 3000 < platform.token_expires_in <= 3600
    assert platform.breaker == "closed" and platform.runs_last_hour == 0
    own = rows[f"cred:{alice_openai.pk}"]
    assert (own.owner, own.status, own.breaker) == ("alice", "verified", "open")
    assert own.breaker_models == {"gpt-fast": "open"} and platform.breaker_models == {}
    assert (own.runs_last_hour, own.failed_last_hour, own.error_rate) == (4, 1, 0.25)
    assert not own.token_relevant

    page = admin_client.get("/admin/agents/agentrun/provider-health/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "25%" in text and "1 failed" in text and "gpt-fast: open" in text
    assert platform_gateway.client_secret not in text and "sk-alice-openai-canary-0003" not in text
    assert "/admin/agents/agentrun/provider-health/" in admin_client.get("/admin/").content.decode()


def test_the_failing_runs_link_lists_exactly_them(admin_client, alice, alice_openai, bob):
    key = f"cred:{alice_openai.pk}"
    runs = _runs(alice, key, "openai", ok=2, failed=2)
    _runs(bob, "platform:openai", "openai", ok=0, failed=1)
    page = admin_client.get(f"/admin/agents/agentrun/?period=1&status__exact=failed&credential_key__exact={key}")
    assert page.status_code == 200
    listed = {r.pk for r in page.context_data["cl"].result_list}
    assert listed == {r.pk for r in runs if r.status == RunStatus.FAILED}


def test_only_staff(client, alice):
    client.force_login(alice)
    assert client.get("/admin/agents/agentrun/provider-health/").status_code == 302
