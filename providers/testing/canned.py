"""Realistic canned answers for the gateway simulator's demo mode (`make demo`).

The simulator knows nothing about IdeaForge's agents; it recognises what is asked from the
system prompt (five numbered ideas, a concept brief) or the structured-output schema (an
assessment with a score and a verdict) and answers in that shape about the user's topic, so
the product can be seen working without a real model. Tests keep the deterministic echo.
"""

from __future__ import annotations

from typing import Any

_MAX_TOPIC = 70


def topic_of(prompt: str) -> str:
    """The user's prompt, shortened to fit a sentence."""
    text = " ".join(prompt.split()).rstrip(".!?")
    if len(text) > _MAX_TOPIC:
        text = text[: _MAX_TOPIC - 1].rsplit(" ", 1)[0] + "…"
    return text or "your idea"


def ideas(topic: str) -> str:
    return "\n".join(
        [
            f"1. **Neighbourhood pilot for {topic}.** A small, local first version run with ten households, "
            "for people who want to try before they commit. It could work now because group chats make recruiting a street cheap.",
            f"2. **A subscription kit around {topic}.** Everything needed arrives monthly with a short guide, "
            "for busy people who never find time to start. It could work now because small-batch fulfilment is a commodity.",
            f"3. **A marketplace of local experts in {topic}.** Vetted people offer one-hour sessions, "
            "for beginners who are stuck on a specific problem. It could work now because video calls are normal for advice.",
            f"4. **An app that measures progress in {topic}.** Simple weekly check-ins turned into a chart, "
            "for people who quit when they cannot see results. It could work now because phones already log most of the data.",
            f"5. **A workplace programme built on {topic}.** Employers pay, staff join in teams, "
            "for HR leads looking for benefits people use. It could work now because wellbeing budgets are looking for proof.",
        ]
    )


def brief(topic: str) -> str:
    return "\n".join(
        [
            f"# Concept brief: {topic}",
            "",
            "## Problem",
            f"People interested in **{topic}** start with enthusiasm and stall within weeks: the first steps are unclear "
            "and nobody checks in. *Assumption:* most of them would continue with light guidance.",
            "",
            "## Audience",
            "- Busy adults who have tried once and stopped",
            "- Small groups (friends, colleagues) who want to do it together",
            "",
            "## Solution",
            "A guided four-week programme: a short plan, weekly prompts, and a group check-in. No app to install at first; "
            "email and a shared page are enough to learn what matters.",
            "",
            "## Why now",
            "Remote habits made small online groups normal, and people are looking for low-cost ways to build routines.",
            "",
            "## How it makes money",
            "A paid cohort (per person) after a free first week. *Measure:* conversion from free week to paid cohort.",
            "",
            "## Risks and mitigations",
            "1. **Low completion.** Keep sessions short; send a reminder the day before.",
            "2. **Hard to stand out.** Focus on one audience first and collect their stories.",
            "",
            "## First milestone",
            "Run one cohort of **12 people** in the next month and measure week-four attendance.",
        ]
    )


def assessment(topic: str) -> dict[str, Any]:
    """A valid IdeaAssessment (agents.catalog) with a real score and verdict."""
    return {
        "summary": f"{topic[:1].upper()}{topic[1:]}: a service people try first locally, then pay for.",
        "strengths": [
            "The problem is felt often and is easy to explain.",
            "A first version needs no software: it can be tested by hand.",
            "Early users can be found in existing local groups.",
        ],
        "risks": [
            "People may like the idea but not pay for it.",
            "Retention after the first month is unproven.",
            "Larger players could copy the format quickly.",
        ],
        "open_questions": ["Who pays: the user, an employer or a sponsor?", "How many users come back in week four?"],
        "score": 6,
        "verdict": "refine",
        "next_step": "Pre-sell ten places for a two-week pilot and count how many people pay before it starts.",
    }


def canned_content(system: str, prompt: str) -> str:
    """A Markdown answer in the shape `system` asks for."""
    topic = topic_of(prompt)
    lowered = system.lower()
    if "concept brief" in lowered:
        return brief(topic)
    if "five ideas" in lowered or "ideas" in lowered:
        return ideas(topic)
    return f"Here is a short answer about **{topic}**.\n\n- It is a simulated reply from the local AI Gateway.\n- Point IdeaForge at a real provider for real answers."


def canned_json(schema: dict[str, Any], prompt: str) -> dict[str, Any] | None:
    """An assessment when the schema asks for one (score and verdict), else None."""
    props = set((schema.get("properties") or {}).keys())
    if {"score", "verdict", "strengths", "risks"} <= props:
        return assessment(topic_of(prompt))
    return None
