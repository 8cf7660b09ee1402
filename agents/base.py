"""`ForgeAgent`: the base class every IdeaForge agent is one small subclass of.

An agent is identity and instructions (class attributes) plus a default tier; the model comes
from the user's providers at run time (`agents.selectors`), with fallback (`agents.services`).
Agno's `Agent` is built per run around the chosen model: building one costs ~0.01 ms, and a
fresh one per run keeps nothing from one user's run in another's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser
from pydantic import BaseModel

from .events import Event, RunResult
from .exceptions import NoModelAvailable
from .failures import unusable_reason
from .modelcache import model_for
from .selectors import resolve
from .services import arun_agent, astream_agent, run_agent, stream_agent


class ForgeAgent:
    #: Stable id: used in URLs, the command line and AgentRun.agent.
    name: ClassVar[str]
    #: Shown on the Forge page.
    title: ClassVar[str]
    description: ClassVar[str] = ""
    instructions: ClassVar[tuple[str, ...]] = ()
    #: "fast", "standard" or "premium"; the user may pick another per run.
    default_tier: ClassVar[str] = "standard"
    #: A pydantic model for structured answers (shown once complete, not streamed).
    output_schema: ClassVar[type[BaseModel] | None] = None
    #: Seconds an answer is kept in the response cache (agents.responsecache); 0: not cached.
    cache_ttl: ClassVar[int] = 0
    #: True when answers do not depend on who asks: cached entries are shared by every user.
    cache_shared: ClassVar[bool] = False

    def sampling_params(self) -> dict[str, Any]:
        """Sampling parameters the agent sets on its model (part of the response cache's key)."""
        return {}

    def build_agno_agent(self, model: Any) -> Any:
        """The Agno agent for one run around `model`. Override to add tools or knowledge."""
        from agno.agent import Agent

        return Agent(
            model=model,
            name=self.name,
            description=self.description or None,
            instructions=list(self.instructions),
            output_schema=self.output_schema,
            telemetry=False,
        )

    def render(self, content: Any) -> str:
        """The answer as text for pages, the terminal and the run record."""
        if isinstance(content, BaseModel):
            return content.model_dump_json(indent=2)
        return "" if content is None else str(content)

    def get_agno_model(self, tier: str | None = None, *, user: AbstractBaseUser) -> Any:
        """The model of the first healthy candidate for `tier` (the seed's `_get_agno_model()`).

        For callers that drive Agno themselves; it cannot fall back once a request fails, which
        `run()` / `stream()` do. The model is the one the runner uses (`agents.modelcache`: one
        per credential and model id, shared by concurrent runs): use it, do not change it.
        Raises `NoModelAvailable` naming each candidate whose model could not be built.
        """
        tier = tier or self.default_tier
        tried: list[dict[str, str]] = []
        candidates = resolve(user, tier, include_open=True)
        # Healthy ones first; when every breaker is open, the first to open (as the runner does).
        healthy = [c for c in candidates if not c.breaker.is_open()]
        for c in candidates:
            if not c.breaker.is_open() or not healthy:
                continue
            tried.append(c.describe(f"circuit open after repeated failures ({c.breaker.open_for():.0f} s left)"))
        order = healthy or sorted(candidates, key=lambda c: c.breaker.opened_at or 0.0)
        for candidate in order:
            try:
                model, _secrets = model_for(candidate)
            except Exception as exc:  # as in the runner: nothing was sent, the next one is safe
                tried.append(candidate.describe(unusable_reason(exc)))
                continue
            return model
        raise NoModelAvailable(tier, tried=tried)

    def run(self, user: AbstractBaseUser, prompt: str, tier: str | None = None, *, use_cache: bool = True) -> RunResult:
        return run_agent(agent=self, user=user, prompt=prompt, tier=tier, use_cache=use_cache)

    def stream(
        self, user: AbstractBaseUser, prompt: str, tier: str | None = None, *, use_cache: bool = True
    ) -> Iterator[Event]:
        return stream_agent(agent=self, user=user, prompt=prompt, tier=tier, use_cache=use_cache)

    async def arun(
        self, user: AbstractBaseUser, prompt: str, tier: str | None = None, *, use_cache: bool = True
    ) -> RunResult:
        return await arun_agent(agent=self, user=user, prompt=prompt, tier=tier, use_cache=use_cache)

    def astream(
        self, user: AbstractBaseUser, prompt: str, tier: str | None = None, *, use_cache: bool = True
    ) -> AsyncIterator[Event]:
        return astream_agent(agent=self, user=user, prompt=prompt, tier=tier, use_cache=use_cache)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
