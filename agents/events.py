"""What a run tells its caller: the events a stream yields and the result of a run to completion.

A stream (`agents.services.stream_agent` / `astream_agent`) yields `CandidateChosen` when a
candidate is about to be tried, `Delta` for each piece of the answer, `FallbackTaken` when a
candidate is left for the next one, and ends with exactly one `Done` or `Failed`. `kind` is the
name the Forge page's NDJSON stream uses for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .exceptions import AgentError
from .models import AgentRun


@dataclass(frozen=True)
class CandidateChosen:
    provider: str
    provider_name: str
    model: str
    tier: str
    source: str
    kind: str = "candidate"


@dataclass(frozen=True)
class Delta:
    text: str
    kind: str = "delta"


@dataclass(frozen=True)
class FallbackTaken:
    provider: str
    model: str
    reason: str
    kind: str = "fallback"


@dataclass(frozen=True)
class Done:
    run: AgentRun
    content: Any
    text: str
    kind: str = "done"


@dataclass(frozen=True)
class Failed:
    run: AgentRun | None
    error: AgentError
    kind: str = "error"

    @property
    def message(self) -> str:
        return str(self.error)


Event = CandidateChosen | Delta | FallbackTaken | Done | Failed


@dataclass(frozen=True)
class Rendered:
    """Not from the run: the Forge's NDJSON stream adds it after some deltas (`agents.progressive`):
    the sanitized HTML of the answer so far up to its last line end, and the text after that."""

    html: str
    tail: str = ""
    kind: str = "rendered"


@dataclass(frozen=True)
class RunResult:
    """What `run_agent` / `arun_agent` return when a candidate answered."""

    run: AgentRun
    content: Any  # str, or an instance of the agent's output_schema
    text: str  # what the user sees
    fallbacks: list[dict[str, str]] = field(default_factory=list)
