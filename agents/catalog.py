"""The IdeaForge agents. Adding one: write a small `ForgeAgent` subclass and list it in AGENTS."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from .base import ForgeAgent


class IdeaGenerator(ForgeAgent):
    name = "idea_generator"
    title = "Idea generator"
    description = "Turns a theme, problem or constraint into a handful of distinct, concrete ideas."
    default_tier = "fast"
    instructions = (
        "You help people find ideas worth building. The user gives a theme, a problem or a constraint.",
        "Answer with five ideas, numbered. Each idea: a short title in bold, then two sentences: "
        "what it is and who it is for, and why it could work now.",
        "Make the ideas differ from each other in audience or mechanism; no variations of one idea.",
        "Prefer specific, testable ideas over vague platforms. No preamble and no closing summary.",
    )


class IdeaAssessment(BaseModel):
    """The idea critic's structured verdict."""

    summary: str = Field(description="The idea restated in one sentence, as the critic understood it.")
    strengths: list[str] = Field(description="The strongest reasons it could work, most important first.")
    risks: list[str] = Field(description="The biggest reasons it could fail, most serious first.")
    open_questions: list[str] = Field(description="What must be learned before committing to it.")
    score: int = Field(ge=1, le=10, description="Overall promise from 1 (drop it) to 10 (build it now).")
    verdict: str = Field(description="One of: pursue, refine, drop.")
    next_step: str = Field(description="The cheapest experiment that would test the riskiest assumption.")


class IdeaCritic(ForgeAgent):
    name = "idea_critic"
    title = "Idea critic"
    description = "Assesses one idea honestly: strengths, risks, open questions, a score and a next step."
    default_tier = "standard"
    output_schema = IdeaAssessment
    # The same idea asked twice deserves the same judgement: answers are cached for a day.
    cache_ttl = 24 * 3600
    instructions = (
        "You are a candid, constructive critic of product and business ideas.",
        "Assess the single idea the user describes. Judge it on the problem's reality and urgency, "
        "the audience's willingness to pay or adopt, feasibility, competition and timing.",
        "List at most four strengths and four risks, each one short sentence; be concrete, not generic.",
        "Score from 1 to 10; the verdict is 'pursue' (7 or more), 'refine' (4 to 6) or 'drop' (3 or less).",
        "The next step is a small experiment that can be run within two weeks.",
    )

    def render(self, content: object) -> str:
        if not isinstance(content, IdeaAssessment):
            return super().render(content)
        lines = [content.summary, "", f"Score: {content.score}/10 · verdict: {content.verdict}", "", "Strengths:"]
        lines += [f"  + {s}" for s in content.strengths]
        lines += ["", "Risks:"] + [f"  - {r}" for r in content.risks]
        if content.open_questions:
            lines += ["", "Open questions:"] + [f"  ? {q}" for q in content.open_questions]
        lines += ["", f"Next step: {content.next_step}"]
        return "\n".join(lines)

    def parse(self, text: str) -> IdeaAssessment | None:
        """The assessment back from `render`'s text (the run record keeps only text), or None
        when `text` is not in that shape (a plain-text fallback answer)."""
        lines = text.strip().splitlines()
        head = next((i for i, line in enumerate(lines) if _SCORE.match(line)), None)
        if head is None:
            return None
        score = _SCORE.match(lines[head])
        sections: dict[str, list[str]] = {"Strengths:": [], "Risks:": [], "Open questions:": []}
        current: list[str] | None = None
        next_step = ""
        for line in lines[head + 1 :]:
            if line in sections:
                current = sections[line]
            elif line.startswith("Next step: "):
                next_step, current = line.removeprefix("Next step: "), None
            elif current is not None and line[:4] in ("  + ", "  - ", "  ? "):
                current.append(line[4:])
        try:
            return IdeaAssessment(
                summary="\n".join(lines[:head]).strip(),
                score=int(score.group(1)),
                verdict=score.group(2),
                strengths=sections["Strengths:"],
                risks=sections["Risks:"],
                open_questions=sections["Open questions:"],
                next_step=next_step,
            )
        except ValueError:
            return None


_SCORE = re.compile(r"^Score: (\d+)/10 · verdict: (.+)$")


class ConceptBriefWriter(ForgeAgent):
    name = "concept_brief"
    title = "Concept-brief writer"
    description = "Writes a one-page concept brief for an idea, ready to share with a team or investor."
    default_tier = "premium"
    instructions = (
        "You write concise concept briefs for new products. The user gives an idea, perhaps with notes.",
        "Write the brief in Markdown with these sections: Problem, Audience, Solution, Why now, "
        "How it makes money, Risks and mitigations, First milestone.",
        "Keep it to one page (about 400 words). Use plain language; state assumptions as assumptions.",
        "Do not invent numbers, quotes or market sizes; where a number would help, say what to measure.",
    )


#: Every agent the Forge page and `agents_run` offer, by name (explicit: no discovery by import).
AGENTS: dict[str, ForgeAgent] = {agent.name: agent for agent in (IdeaGenerator(), IdeaCritic(), ConceptBriefWriter())}


def agent_get(name: str) -> ForgeAgent:
    """The agent called `name`; raises KeyError naming the known ones."""
    try:
        return AGENTS[name]
    except KeyError:
        raise KeyError(f"Unknown agent {name!r}; known: {', '.join(AGENTS)}") from None
