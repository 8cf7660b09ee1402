"""Exact-match response cache: a repeated ask is answered from Django's cache, not a provider.

Opt-in per agent (`ForgeAgent.cache_ttl`, seconds; 0 = off; the idea critic turns it on) and
off per request (`use_cache=False`: "fresh answer" on the Forge page, `agents_run --no-cache`).

The key is a hash of everything that changes the answer: the candidate's provider and model,
the prompt (the run's only message: no history is sent), the agent's instructions and
description, its tools, its output schema and its sampling parameters, and whose answer it is:
the user's id and their credentials' generation token (`providers.snapshots`: any change to a
user's credentials gives new keys, so their old entries are never read again and expire), or,
for an agent that declares its answers user-independent (`cache_shared`), no user at all.

`lookup()` reads the keys of every candidate the run may use in one `get_many` (one Redis round
trip) and returns the first candidate in order that has an entry: the run then replays it
(`ReplayAgent`) with the same events as the original run, no provider call and no tokens. An
entry holds the answer's stream pieces in order and its content (a structured answer as JSON);
entries over `AGENTS_RESPONSE_CACHE_MAX_BYTES` are not stored. A cache outage is a miss.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from providers.snapshots import generation_key

from . import hooks
from .conf import app_settings
from .selectors import Candidate

logger = logging.getLogger(__name__)

_PREFIX = "agents:answer:"
_VERSION = 1  # bump when the entry's shape changes


@dataclass(frozen=True)
class CachedAnswer:
    """One stored answer: the streamed pieces in order, and the content (JSON for a structure)."""

    pieces: tuple[str, ...]
    content: Any


def enabled(agent: Any, use_cache: bool = True) -> bool:
    """Whether the agent's answers are cached (a fresh answer is still stored: it replaces the old)."""
    return use_cache and int(getattr(agent, "cache_ttl", 0) or 0) > 0


@functools.cache
def _agent_part(agent_class: type) -> str:
    """What the agent itself contributes to the key (computed once per agent class)."""
    agent = agent_class()
    schema = agent.output_schema.model_json_schema() if agent.output_schema is not None else None
    tools = [getattr(t, "name", None) or getattr(t, "__name__", repr(t)) for t in getattr(agent, "tools", ()) or ()]
    return json.dumps(
        {
            "agent": agent.name,
            "instructions": list(agent.instructions),
            "description": agent.description,
            "tools": tools,
            "schema": schema,
            "sampling": agent.sampling_params() if hasattr(agent, "sampling_params") else {},
        },
        sort_keys=True,
        default=str,
    )


def _key(agent: Any, scope: str, candidate: Candidate, prompt: str) -> str:
    raw = json.dumps([_VERSION, _agent_part(type(agent)), scope, candidate.provider, candidate.model_id, prompt])
    return _PREFIX + hashlib.sha256(raw.encode()).hexdigest()


def _scope(agent: Any, user_id: Any) -> str | None:
    """Whose answers these are; None when the user's generation token cannot be read (a miss)."""
    if getattr(agent, "cache_shared", False):
        return "shared"
    try:
        token = cache.get(generation_key(user_id))
    except Exception:
        return None
    return f"user:{user_id}:{token or '-'}"


@dataclass
class Lookup:
    """The keys of a run's candidates (in their order), and the first cached answer among them."""

    candidates: list[Candidate]
    keys: list[str]
    hit: Candidate | None = None
    answer: CachedAnswer | None = None

    def key_for(self, candidate: Candidate) -> str | None:
        for known, key in zip(self.candidates, self.keys, strict=True):
            if known is candidate:
                return key
        return None


def lookup(
    agent: Any, user_id: Any, prompt: str, candidates: Sequence[Candidate], *, read: bool = True
) -> Lookup | None:
    """The run's cache keys and its first hit (`read=False`: the keys only, for a fresh answer
    that will replace the stored one); None when the cache cannot be used at all."""
    scope = _scope(agent, user_id)
    if scope is None:
        return None
    candidates = list(candidates)
    keys = [_key(agent, scope, c, prompt) for c in candidates]
    if not read:
        return Lookup(candidates, keys)
    result = Lookup(candidates, keys)
    try:
        found = cache.get_many(keys) if keys else {}
    except Exception:  # an outage is a miss
        logger.warning("response cache unavailable: answering without it")
        found = {}
    for candidate, key in zip(candidates, keys, strict=True):
        entry = found.get(key)
        if isinstance(entry, CachedAnswer):
            result = Lookup(candidates, keys, candidate, entry)
            break
    hooks.response_cache_lookup.send(None, agent=agent.name, hit=result.hit is not None)
    return result


def store(agent: Any, key: str, pieces: Sequence[str], content: Any) -> bool:
    """Keep an answer for `agent.cache_ttl` seconds; False when too large or the cache failed."""
    if hasattr(content, "model_dump"):
        content = content.model_dump(mode="json")
    entry = CachedAnswer(tuple(pieces), content)
    size = sum(len(p) for p in pieces) + len(json.dumps(content, default=str))
    if size > int(app_settings.RESPONSE_CACHE_MAX_BYTES):
        return False
    try:
        cache.set(key, entry, int(agent.cache_ttl))
    except Exception:
        logger.warning("response cache unavailable: answer not stored")
        return False
    return True


class _NoTap:
    """The error tap of a replay: nothing can fail upstream."""

    error: BaseException | None = None

    def activate(self) -> None:
        pass


class ReplayAgent:
    """Stands in for the Agno agent of a cached candidate: `run` / `arun` give back the stored
    answer as Agno would (content events in order, then the RunOutput), without any model."""

    tap = _NoTap()

    def __init__(self, agent: Any, answer: CachedAnswer) -> None:
        self.agent = agent
        self.answer = answer

    def _content(self) -> Any:
        schema = self.agent.output_schema
        if schema is not None and isinstance(self.answer.content, dict):
            return schema.model_validate(self.answer.content)
        return self.answer.content

    def _output(self) -> Any:
        from agno.run.agent import RunOutput
        from agno.run.base import RunStatus

        return RunOutput(content=self._content(), status=RunStatus.completed)

    def _events(self) -> Iterator[Any]:
        from agno.run.agent import RunContentEvent

        pieces = self.answer.pieces
        if not pieces and self.agent.output_schema is None and isinstance(self.answer.content, str):
            pieces = (self.answer.content,)  # stored by a run that did not stream
        for piece in pieces:
            yield RunContentEvent(content=piece)
        yield self._output()

    def run(self, prompt: str, stream: bool = False, **kwargs: Any) -> Any:
        return self._events() if stream else self._output()

    def arun(self, prompt: str, stream: bool = False, **kwargs: Any) -> Any:
        if stream:
            return self._aevents()
        return self._aoutput()

    async def _aoutput(self) -> Any:
        return self._output()

    async def _aevents(self) -> AsyncIterator[Any]:
        for item in self._events():
            yield item
