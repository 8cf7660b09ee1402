"""The usage page of someone with no runs in the period says so and points to the Forge."""

from __future__ import annotations

import pytest

from agents.catalog import AGENTS
from agents.services import run_agent

pytestmark = pytest.mark.django_db(transaction=True)

EMPTY = "No runs in the last 7 days."


def test_a_new_user_gets_an_empty_state_that_links_to_the_forge(client, alice):
    client.force_login(alice)
    page = client.get("/usage/").content.decode()
    assert EMPTY in page and 'href="/forge/">Run an agent in the Forge</a>' in page
    assert "a longer period may show older ones" in page
    longest = client.get("/usage/?days=90").content.decode()
    assert "No runs in the last 90 days." in longest
    assert "a longer period" not in longest, "no longer period to suggest"


def test_the_empty_state_goes_once_there_is_a_run(client, alice, platform_gateway):
    run_agent(user=alice, agent=AGENTS["idea_generator"], prompt="a first idea")
    client.force_login(alice)
    assert EMPTY not in client.get("/usage/").content.decode()
