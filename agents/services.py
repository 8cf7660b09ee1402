"""Run an agent with fallback: a plain ordered loop over `resolve()`'s candidates.

    for candidate in candidates:
        cooling down or unusable -> note why, next
        run it -> answered: record and return
        retryable failure before anything reached the caller -> cool it down, note why, next
        anything else -> record and give the error back (400-class names the provider)
    raise NoModelAvailable(tier, tried=[...])

Four entry points share the loop's bookkeeping (`_Loop`): `run_agent` and `arun_agent` return
a `RunResult` or raise an `AgentError`; `stream_agent` and `astream_agent` yield events
(`CandidateChosen`, `Delta`, `FallbackTaken`, then `Done` or `Failed`) and never raise for a
provider failure. Every run is recorded as an `AgentRun` (created when it starts, completed
when it ends, also when the caller walks away mid-stream).

Agents with an `output_schema` are run without streaming even by the streaming entry points:
their answer is a structured object, shown once complete (one `Delta` with its rendering).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from pydantic import BaseModel

from providers.redaction import redact

from .cooldown import cooldown_start
from .events import CandidateChosen, Delta, Done, Event, Failed, FallbackTaken, RunResult
from .exceptions import AgentError, NoModelAvailable, RequestRefused, StreamInterrupted
from .failures import REASON_LIMIT, ErrorTap, classify
from .logsafety import secrets_register, secrets_unregister
from .modelcache import model_for
from .models import AgentRun, RunStatus
from .selectors import Candidate, resolve

logger = logging.getLogger(__name__)


class RunnableAgent(Protocol):
    """What the loop needs of an agent; `agents.base.ForgeAgent` is the one implementation."""

    @property
    def name(self) -> str: ...
    @property
    def default_tier(self) -> str: ...
    @property
    def output_schema(self) -> type[BaseModel] | None: ...

    def build_agno_agent(self, model: Any) -> Any: ...
    def render(self, content: Any) -> str: ...


# -- the loop's bookkeeping --------------------------------------------------------------------

@dataclass
class _Attempt:
    candidate: Candidate
    # Out of repr(): the agent holds the model (whose client holds the key), `secrets` the raw
    # strings the runner scrubs from error text. Tracebacks with locals must show neither.
    agno_agent: Any = field(repr=False)
    tap: ErrorTap = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


class _Loop:
    def __init__(self, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None, *, streamed: bool, record: bool = True) -> None:
        self.agent = agent
        self.user = user
        self.prompt = prompt
        self.tier = tier or agent.default_tier
        self.streamed = streamed
        self.record = record
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.tried: list[dict[str, str]] = []
        self.run: AgentRun | None = None
        self.finished = False
        self._secrets: list[str] = []

    def begin(self) -> list[Candidate]:
        candidates = resolve(self.user, self.tier, include_cooling=True)
        if self.record:
            self.run = AgentRun.objects.create(
                user=self.user, agent=self.agent.name, tier=self.tier, prompt=self.prompt[:20000], streamed=self.streamed,
            )
        return candidates

    def prepare(self, candidate: Candidate) -> _Attempt | None:
        """Build the candidate's model and agent, or note why it is skipped (no request sent yet)."""
        if candidate.cooling_for > 0:
            self.tried.append(candidate.describe(f"cooling down after a failure ({math.ceil(candidate.cooling_for)} s left)"))
            return None
        try:
            model, secrets = model_for(candidate)
        except Exception as exc:  # a broken credential or backend: nothing was sent, the next one is safe
            reason = f"could not be used: {redact(str(exc) or type(exc).__name__, limit=REASON_LIMIT)}"
            logger.warning("agent %s: skipping %s %s: %s", self.agent.name, candidate.provider, candidate.model_id, reason)
            self.tried.append(candidate.describe(reason))
            return None
        secrets_register(secrets)
        self._secrets.extend(secrets)
        return _Attempt(candidate, self.agent.build_agno_agent(model), ErrorTap(model), secrets)

    def chosen(self, attempt: _Attempt) -> CandidateChosen:
        c = attempt.candidate
        return CandidateChosen(c.provider, c.provider_name, c.model_id, self.tier, c.source)

    def failed(self, attempt: _Attempt, exc: BaseException, *, delivered: bool) -> AgentError | None:
        """Classify a failure: None to go on with the next candidate, else the error to end with."""
        c = attempt.candidate
        failure = classify(exc, secrets=attempt.secrets)
        if failure.retryable:
            seconds = cooldown_start(key=c.key, retry_after=failure.retry_after)
            logger.warning("agent %s: %s %s (%s) failed: %s; cooling down %.0f s", self.agent.name, c.provider, c.model_id, c.key, failure.reason, seconds)
        if delivered:
            # Part of the answer reached the caller: another model would start over (no fallback).
            return StreamInterrupted(
                f"{c.provider_name} ({c.model_id}) failed after the answer had started: {failure.reason}",
                provider=c.provider, status_code=failure.status_code, code="stream_interrupted",
            )
        if failure.retryable:
            self.tried.append(c.describe(failure.reason))
            return None
        logger.warning("agent %s: %s %s refused: %s", self.agent.name, c.provider, c.model_id, failure.reason)
        if failure.status_code is not None and 400 <= failure.status_code < 500:
            return RequestRefused(
                f"{c.provider_name} ({c.model_id}) refused the request: {failure.reason}",
                provider=c.provider, status_code=failure.status_code, code="request_refused",
            )
        return AgentError(f"{c.provider_name} ({c.model_id}) failed: {failure.reason}", provider=c.provider, status_code=failure.status_code)

    def fallback_event(self) -> FallbackTaken:
        last = self.tried[-1]
        return FallbackTaken(last["provider"], last["model"], last["reason"])

    def token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def _elapsed_ms(self, at: float | None = None) -> int:
        return int(((at or time.perf_counter()) - self.started) * 1000)

    def succeed(self, attempt: _Attempt, output: Any, text: str) -> None:
        self.finished = True
        if self.run is None:
            return
        metrics = getattr(output, "metrics", None)
        self._save(
            attempt.candidate, RunStatus.SUCCEEDED, output=text,
            input_tokens=getattr(metrics, "input_tokens", None), output_tokens=getattr(metrics, "output_tokens", None),
        )

    def fail(self, error: AgentError, attempt: _Attempt | None = None, text: str = "") -> None:
        self.finished = True
        if self.run is None:
            return
        self._save(attempt.candidate if attempt else None, RunStatus.FAILED, output=text, error=str(error)[:500])

    def _save(self, candidate: Candidate | None, status: str, **fields: Any) -> None:
        run = self.run
        assert run is not None
        if candidate is not None:
            run.provider, run.model_id = candidate.provider, candidate.model_id
            run.credential_source, run.credential_key = candidate.source, candidate.key
        run.status = status
        run.fallbacks = self.tried
        run.latency_ms = self._elapsed_ms()
        run.time_to_first_token_ms = self._elapsed_ms(self.first_token_at) if self.first_token_at else None
        run.finished_at = timezone.now()
        for name, value in fields.items():
            setattr(run, name, value)
        run.save()

    def release(self) -> None:
        secrets_unregister(self._secrets)
        self._secrets = []

    def abandon(self, attempt: _Attempt | None, text: str) -> None:
        """The caller stopped reading mid-stream (closed page, broken pipe)."""
        self.release()
        if not self.finished:
            self.fail(AgentError("The run was abandoned before it finished (the client went away)."), attempt, text)

    def no_model(self) -> NoModelAvailable:
        error = NoModelAvailable(self.tier, tried=self.tried)
        self.fail(error)
        return error


def _error_of(output: Any, tap: ErrorTap) -> BaseException | None:
    """Agno returns status ERROR instead of raising: find the real exception."""
    from agno.run.base import RunStatus as AgnoStatus

    if getattr(output, "status", None) != AgnoStatus.error:
        return None
    return tap.error or AgentError(str(output.content or "the model run failed"))


# -- sync --------------------------------------------------------------------------------------

def run_agent(*, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None = None, record: bool = True) -> RunResult:
    """Run to completion with fallback; raises NoModelAvailable, RequestRefused or AgentError."""
    loop = _Loop(agent, user, prompt, tier, streamed=False, record=record)
    try:
        for candidate in loop.begin():
            attempt = loop.prepare(candidate)
            if attempt is None:
                continue
            attempt.tap.activate()
            output = attempt.agno_agent.run(prompt)
            exc = _error_of(output, attempt.tap)
            if exc is None:
                text = agent.render(output.content)
                loop.succeed(attempt, output, text)
                return RunResult(loop.run, output.content, text, loop.tried)  # type: ignore[arg-type]
            error = loop.failed(attempt, exc, delivered=False)
            if error is not None:
                loop.fail(error, attempt)
                raise error
        raise loop.no_model()
    finally:
        loop.release()


def stream_agent(*, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None = None) -> Iterator[Event]:
    """Yield events as the answer streams in; ends with `Done` or `Failed`."""
    from agno.run.agent import RunContentEvent, RunOutput

    loop = _Loop(agent, user, prompt, tier, streamed=True)
    attempt: _Attempt | None = None
    text = ""
    try:
        for candidate in loop.begin():
            attempt = loop.prepare(candidate)
            if attempt is None:
                yield loop.fallback_event()
                continue
            yield loop.chosen(attempt)
            attempt.tap.activate()
            if agent.output_schema is not None:
                output = attempt.agno_agent.run(prompt)
            else:
                output = None
                for event in attempt.agno_agent.run(prompt, stream=True, yield_run_output=True):
                    if isinstance(event, RunContentEvent) and isinstance(event.content, str) and event.content:
                        loop.token()
                        text += event.content
                        yield Delta(event.content)
                    elif isinstance(event, RunOutput):
                        output = event
            exc = _error_of(output, attempt.tap) if output is not None else (attempt.tap.error or AgentError("the model stream ended without an answer"))
            if exc is None:
                if agent.output_schema is not None:
                    text = agent.render(output.content)  # type: ignore[union-attr]
                    loop.token()
                    yield Delta(text)
                loop.succeed(attempt, output, text)
                yield Done(loop.run, output.content if agent.output_schema else text, text)  # type: ignore[union-attr, arg-type]
                return
            error = loop.failed(attempt, exc, delivered=bool(text))
            if error is not None:
                loop.fail(error, attempt, text)
                yield Failed(loop.run, error)
                return
            yield loop.fallback_event()
        yield Failed(loop.run, loop.no_model())
    finally:
        loop.abandon(attempt, text)


# -- async -------------------------------------------------------------------------------------

async def arun_agent(*, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None = None, record: bool = True) -> RunResult:
    """`run_agent` for async callers (the ORM and decryption run in Django's sync thread)."""
    loop = _Loop(agent, user, prompt, tier, streamed=False, record=record)
    try:
        for candidate in await sync_to_async(loop.begin)():
            attempt = await sync_to_async(loop.prepare)(candidate)
            if attempt is None:
                continue
            attempt.tap.activate()
            output = await attempt.agno_agent.arun(prompt)
            exc = _error_of(output, attempt.tap)
            if exc is None:
                text = agent.render(output.content)
                await sync_to_async(loop.succeed)(attempt, output, text)
                return RunResult(loop.run, output.content, text, loop.tried)  # type: ignore[arg-type]
            error = loop.failed(attempt, exc, delivered=False)
            if error is not None:
                await sync_to_async(loop.fail)(error, attempt)
                raise error
        raise await sync_to_async(loop.no_model)()
    finally:
        loop.release()


async def astream_agent(*, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None = None) -> AsyncIterator[Event]:
    """`stream_agent` for async callers."""
    from agno.run.agent import RunContentEvent, RunOutput

    loop = _Loop(agent, user, prompt, tier, streamed=True)
    attempt: _Attempt | None = None
    text = ""
    try:
        for candidate in await sync_to_async(loop.begin)():
            attempt = await sync_to_async(loop.prepare)(candidate)
            if attempt is None:
                yield loop.fallback_event()
                continue
            yield loop.chosen(attempt)
            attempt.tap.activate()
            if agent.output_schema is not None:
                output = await attempt.agno_agent.arun(prompt)
            else:
                output = None
                async for event in attempt.agno_agent.arun(prompt, stream=True, yield_run_output=True):
                    if isinstance(event, RunContentEvent) and isinstance(event.content, str) and event.content:
                        loop.token()
                        text += event.content
                        yield Delta(event.content)
                    elif isinstance(event, RunOutput):
                        output = event
            exc = _error_of(output, attempt.tap) if output is not None else (attempt.tap.error or AgentError("the model stream ended without an answer"))
            if exc is None:
                if agent.output_schema is not None:
                    text = agent.render(output.content)  # type: ignore[union-attr]
                    loop.token()
                    yield Delta(text)
                await sync_to_async(loop.succeed)(attempt, output, text)
                yield Done(loop.run, output.content if agent.output_schema else text, text)  # type: ignore[union-attr, arg-type]
                return
            error = loop.failed(attempt, exc, delivered=bool(text))
            if error is not None:
                await sync_to_async(loop.fail)(error, attempt, text)
                yield Failed(loop.run, error)
                return
            yield loop.fallback_event()
        yield Failed(loop.run, await sync_to_async(loop.no_model)())
    finally:
        loop.release()
        if not loop.finished:
            await sync_to_async(loop.abandon)(attempt, text)
