"""`make demo`: the gateway simulator's canned answers go through the real agents and look like
the product (five ideas, a valid assessment shown as a card, a Markdown brief), word by word."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command

from agents.catalog import AGENTS
from agents.events import Delta
from agents.presentation import answer_html

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_gateway(platform_gateway):
    platform_gateway.canned = True
    return platform_gateway


def test_idea_generator_streams_five_numbered_ideas(alice, demo_gateway):
    events = list(AGENTS["idea_generator"].stream(alice, "tiny houses for rent"))
    deltas = [e.text for e in events if isinstance(e, Delta)]
    text = "".join(deltas)
    assert len(deltas) > 50  # word by word
    assert re.findall(r"^(\d)\. \*\*", text, flags=re.M) == ["1", "2", "3", "4", "5"]
    assert "tiny houses for rent" in text and "Echo" not in text


def test_critic_answers_a_valid_assessment_shown_as_a_card(alice, demo_gateway):
    result = AGENTS["idea_critic"].run(alice, "a tool library for apartment blocks")
    assessment = AGENTS["idea_critic"].parse(result.text)
    assert assessment is not None and assessment.score == 6 and assessment.verdict == "refine"
    assert len(assessment.strengths) == 3 and assessment.next_step
    assert "sample" not in result.text
    assert 'class="assessment"' in answer_html("idea_critic", result.text)


def test_brief_is_markdown_with_its_sections(alice, demo_gateway):
    result = AGENTS["concept_brief"].run(alice, "a repair cafe")
    html = str(answer_html("concept_brief", result.text))
    for section in (
        "Problem",
        "Audience",
        "Solution",
        "Why now",
        "How it makes money",
        "Risks and mitigations",
        "First milestone",
    ):
        assert f"<h2>{section}</h2>" in html
    assert "<h1>Concept brief: a repair cafe</h1>" in html


def test_echo_stays_the_default_for_tests(alice, platform_gateway):
    assert AGENTS["idea_generator"].run(alice, "hello").text == "Echo: hello"


def test_chunk_delay_is_checked():
    with pytest.raises(CommandError, match="between 0 and 5000"):
        call_command("providers_gateway_simulator", "--port", "0", "--chunk-delay-ms", "-5")
