"""Progressive Markdown for the Forge's NDJSON stream: now and then, the answer so far rendered
and sanitized on the server (`presentation.render_markdown`), so the page can show headings,
lists and bold while the answer streams instead of raw asterisks until the end.

The page still receives every `delta` (Copy and the no-JS page use the raw text); a `rendered`
event follows a delta when it is worth it: at most every `interval` seconds, once a line has
ended, and only up to the last line end (a block boundary), so a half-typed `**bold` or table
row is not shown rendered and then re-rendered differently: the unfinished line is sent back as
`tail` and stays plain text until the next render. A long line with no end is rendered whole
after `stall` seconds anyway. Each render is the whole text so far (Markdown is not incremental: a
later line can turn earlier ones into a list or a table); `bench/markdown_bench.py` measures
one (docs/agents.md, "Progressive Markdown").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .catalog import AGENTS
from .events import CandidateChosen, Delta, Event, FallbackTaken, Rendered
from .presentation import render_markdown

#: Seconds between two renders at least, and without a block boundary.
INTERVAL = 0.25
STALL = 1.0


class ProgressiveMarkdown:
    """Fed every event of one run's stream; returns a `Rendered` when one is due, else None."""

    def __init__(
        self, *, interval: float = INTERVAL, stall: float = STALL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.stall = stall
        self.clock = clock
        self.parts: list[str] = []  # joined only to render: `text += delta` on an attribute copies each time
        self.line_ended = False  # since the last render
        self.last = clock()

    def feed(self, event: Event) -> Rendered | None:
        if isinstance(event, CandidateChosen | FallbackTaken):
            # A candidate starts its answer from nothing (fallback happens before any delta).
            self.parts, self.line_ended, self.last = [], False, self.clock()
            return None
        if not isinstance(event, Delta) or not event.text:
            return None
        self.parts.append(event.text)
        self.line_ended = self.line_ended or "\n" in event.text
        now = self.clock()
        waited = now - self.last
        if waited < self.interval or (not self.line_ended and waited < self.stall):
            return None
        self.last, self.line_ended = now, False
        text = self.text
        # Up to the last line end (a block boundary): the unfinished line after it stays plain
        # text on the page (`tail`) until the next render, unless no line ended for `stall`.
        cut = text.rfind("\n") + 1 if waited < self.stall else len(text)
        return Rendered(html=str(render_markdown(text[:cut])), tail=text[cut:])

    @property
    def text(self) -> str:
        return "".join(self.parts)


def progressive_for(agent_name: str) -> ProgressiveMarkdown | None:
    """A renderer for an agent whose answer is Markdown; None for one whose answer is structured
    (the critic's JSON becomes a card at the end, rendering it as Markdown meanwhile would not help)."""
    agent = AGENTS.get(agent_name)
    if agent is None or getattr(agent, "parse", None) is not None:
        return None
    return ProgressiveMarkdown()
