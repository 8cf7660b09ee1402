"""What the Forge shows: sanitized Markdown, the critic's card, display names."""

from __future__ import annotations

from agents.catalog import AGENTS, IdeaAssessment
from agents.presentation import answer_html, fallback_rows, render_markdown

ASSESSMENT = IdeaAssessment(
    summary="A tool-lending library for apartment blocks.",
    strengths=["Real, recurring need", "Cheap to start"],
    risks=["Lost or broken tools", "Low engagement after launch"],
    open_questions=["Who pays for repairs?"],
    score=6,
    verdict="refine",
    next_step="Run a two-week pilot in one building with ten tools.",
)


def test_markdown_is_rendered_and_sanitized():
    html = render_markdown(
        "# Title\n\n1. **one**\n2. `two`\n\n<script>alert(1)</script> [x](javascript:alert(1)) [ok](https://example.com)"
    )
    assert "<h1>Title</h1>" in html and "<ol>" in html and "<strong>one</strong>" in html and "<code>two</code>" in html
    assert "<script>" not in html and 'href="javascript' not in html  # the text stays, inert
    assert 'href="https://example.com" rel="noopener noreferrer"' in html


def test_critic_text_round_trips_into_a_card():
    critic = AGENTS["idea_critic"]
    text = critic.render(ASSESSMENT)
    assert critic.parse(text) == ASSESSMENT
    html = answer_html("idea_critic", text)
    assert 'class="assessment"' in html and ">6<" in html and "badge-refine" in html
    assert "Who pays for repairs?" in html and "two-week pilot" in html
    # Not an assessment (a plain answer): Markdown instead, never an error.
    assert 'class="assessment"' not in answer_html("idea_critic", "Just some *text*.")
    assert "<em>text</em>" in answer_html("idea_critic", "Just some *text*.")


def test_card_escapes_model_text():
    critic = AGENTS["idea_critic"]
    text = critic.render(ASSESSMENT.model_copy(update={"summary": "<img src=x onerror=alert(1)>"}))
    html = answer_html("idea_critic", text)
    assert "<img" not in html and "&lt;img" in html


def test_fallback_rows_use_display_names():
    rows = fallback_rows([{"provider": "openai", "model": "gpt-4o", "reason": "HTTP 503"}, "junk"])
    assert rows == [{"name": "OpenAI", "model": "gpt-4o", "reason": "HTTP 503"}]
