"""Run an agent with fallback: a plain ordered loop over `resolve()`'s candidates.

    for candidate in candidates:
        breaker open (or half-open and another request probes it) or unusable -> note why, next
        run it -> answered: close its breaker, record and return
        transient failure (5xx, connect error) or 429 with a short Retry-After, nothing sent to
            the caller yet, not retried yet -> wait (jittered backoff / Retry-After), run it again
        retryable failure before anything reached the caller -> count it on the breaker (or
            open it: long Retry-After, insufficient_quota, rejected credential), note why, next
        anything else -> record and give the error back (400-class names the provider)
    raise NoModelAvailable(tier, tried=[...])

When every candidate's breaker is open, the one that opened first is tried anyway (see
`agents.breaker`).

That loop is written once per concurrency model, `_fallback_loop` and `_afallback_loop`: the
same lines, the second with `await`s (the ORM and decryption run in Django's sync thread, the
model through Agno's `arun`). Everything they decide is in `_Loop`, one run's state. Both yield
the run's events (`agents.events`: `CandidateChosen`, `Delta`, `FallbackTaken`, then `Done` or
`Failed`). `stream_agent` / `astream_agent` hand the events on and never raise for a provider
failure; `run_agent` / `arun_agent` run the model without streaming, keep the last event and
return a `RunResult` or raise an `AgentError`. Every run is recorded as an `AgentRun` (created
when it starts, completed when it ends, for a stream also when the caller walks away mid-way).

Agents with an `output_schema` are run without streaming even by the streaming entry points:
their answer is a structured object, shown once complete (one `Delta` with its rendering).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, NamedTuple, ParamSpec, Protocol, TypeVar

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from pydantic import BaseModel

from ideaforge.dbpool import release_pooled_connection
from providers.conf import app_settings as providers_settings
from providers.context import current_request_id
from providers.http.deadline import deadline as http_deadline
from providers.services.credentials import credential_mark_failed

from .breaker import (
    MAX_OPEN_SECONDS,
    breaker_claim_probe,
    breaker_failure,
    breaker_open,
    breaker_release_probe,
    breaker_success,
)
from .conf import app_settings
from .events import CandidateChosen, Delta, Done, Event, Failed, FallbackTaken, RunResult
from .exceptions import AgentError, AttemptTimedOut, NoModelAvailable, RequestRefused, StreamInterrupted
from .failures import QUOTA, RATE_LIMITED, REJECTED, TRANSIENT, ErrorTap, Failure, classify, unusable_reason
from .limits import Admission, UserRateLimited, admit, over_limit_reason
from .logsafety import secrets_register, secrets_unregister
from .metrics import record_run
from .modelcache import model_for
from .models import AgentRun, RunStatus
from .records import run_insert, run_update
from .responsecache import Lookup, ReplayAgent
from .responsecache import enabled as cache_enabled
from .responsecache import lookup as cache_lookup
from .responsecache import store as cache_store
from .rollup import count_finished
from .selectors import Candidate, resolve

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Seconds before the one retry of a transient failure on the same candidate: short, jittered so
#: that the runs hit by the same blip do not all come back at the same instant.
RETRY_BACKOFF = (0.05, 0.25)


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


class _Outcome(NamedTuple):
    """What an attempt came to: the run's last event, or (`end` None) on to the next candidate."""

    end: Done | Failed | None
    delta: Delta | None = None  # a structured answer on a stream, shown once complete
    retry_in: float | None = None  # run the same candidate again after this many seconds


@functools.cache
def _agno_stream_types() -> tuple[type, type]:
    from agno.run.agent import RunContentEvent, RunOutput  # agno is imported lazily (0.35 s)

    return RunContentEvent, RunOutput


class _Loop:
    """One run's state and every decision of the fallback loop; the two loops only sequence them.

    `begin`, `prepare`, `finish` and `abandon` touch the database or decrypt: the async loop
    calls them through `sync_to_async` (`begin_and_prepare_first`: the first two in one hop).
    The rest is plain bookkeeping.
    """

    def __init__(
        self,
        agent: RunnableAgent,
        user: AbstractBaseUser,
        prompt: str,
        tier: str | None,
        *,
        streamed: bool,
        record: bool = True,
        use_cache: bool = True,
    ) -> None:
        self.agent = agent
        self.user = user
        self.prompt = prompt
        self.tier = tier or agent.default_tier
        #: A streaming entry point (the record says so; an abandoned stream is recorded as failed).
        self.streamed = streamed
        #: Deltas as the model writes them: a stream of a plain-text answer.
        self.streams_text = streamed and agent.output_schema is None
        self.keep_record = record
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.tried: list[dict[str, str]] = []
        self.run: AgentRun | None = None
        self.attempt: _Attempt | None = None
        self.output: Any = None  # Agno's RunOutput of the current attempt
        self.text = ""  # what reached the caller (streams) or the rendered answer
        self.finished = False
        self._secrets: list[str] = []
        #: The candidate tried although its breaker is open (every candidate was open).
        self.forced: Candidate | None = None
        #: The last candidate a request was sent to (a failed run's record names it).
        self.last_tried: Candidate | None = None
        self.retried = False  # the current candidate had its one retry
        #: `time.monotonic()` bound of the current attempt (AGENTS_RUN_TIMEOUT).
        self.deadline = 0.0
        self.retry_wait: float | None = None
        #: The half-open candidate whose one probe this run claimed (given back in `release`).
        self.probe: Candidate | None = None
        #: Stored credentials the provider rejected (401/403): marked failed when the run ends.
        self.rejected: list[tuple[int, str]] = []
        self.admission: Admission | None = None  # agents.limits: the rate limits let this run in
        self.refusal: UserRateLimited | None = None  # ...or refused it (no candidate is tried)
        self.use_cache = use_cache
        self.cache: Lookup | None = None  # agents.responsecache: the run's keys and its hit
        self.pieces: list[str] = []  # the streamed pieces, in order, for the cache

    def begin(self) -> list[Candidate]:
        candidates = resolve(self.user, self.tier, include_open=True)
        now = time.time()
        if candidates and all(c.breaker.is_open(now) for c in candidates):
            # Every breaker is open: a likely failure beats a certain one. The first to open is
            # the likeliest to have recovered; it goes first, the others are noted as open.
            self.forced = min(candidates, key=lambda c: c.breaker.opened_at or now)
            candidates = [self.forced, *(c for c in candidates if c is not self.forced)]
        if self.keep_record:
            # Written at the start, so a run whose process dies stays visible as "running".
            self.run = run_insert(
                user=self.user,
                agent=self.agent.name,
                tier=self.tier,
                prompt=self.prompt[:20000],
                streamed=self.streamed,
                request_id=current_request_id(),  # run_insert sends no pre_save (agents.request_ids)
            )
        if cache_enabled(self.agent):  # a fresh answer (use_cache=False) reads nothing but is stored
            self.cache = cache_lookup(self.agent, self.user.pk, self.prompt, candidates, read=self.use_cache)
        hit = self.cache.hit if self.cache is not None else None
        try:
            # A cached answer costs no provider call: only the user's own limits apply.
            self.admission = admit(
                self.user.pk,
                [] if hit else [c for c in candidates if c is self.forced or not c.breaker.is_open(now)],
                cached=hit is not None,
            )
        except UserRateLimited as exc:
            self.refusal = exc
            return []
        return [hit] if hit else candidates

    def begin_and_prepare_first(self) -> tuple[list[Candidate], bool]:
        """`begin`, then `prepare` of the first candidate: the async loop's first thread hop."""
        candidates = self.begin()
        return candidates, bool(candidates) and self.prepare(candidates[0])

    def prepare(self, candidate: Candidate) -> bool:
        """Build the candidate's model and agent, or note why it is skipped (no request sent yet)."""
        self.attempt = None
        self.retried = False
        if self.cache is not None and self.cache.hit is candidate:  # replay, nothing is sent
            replay = ReplayAgent(self.agent, self.cache.answer)
            self.attempt = _Attempt(candidate, replay, replay.tap, ())  # type: ignore[arg-type]
            return True
        state = candidate.breaker
        if candidate is not self.forced:
            if state.is_open():
                self.tried.append(
                    candidate.describe(f"circuit open after repeated failures ({math.ceil(state.open_for())} s left)")
                )
                return False
            if state.is_half_open():
                if not breaker_claim_probe(candidate.key, candidate.model_id):
                    self.tried.append(
                        candidate.describe("circuit half-open after repeated failures: another request is probing it")
                    )
                    return False
                self.probe = candidate
        over = self.admission.take(candidate) if self.admission is not None else None
        if over is not None:  # our own limit for this credential: unavailable for now, like a 429
            self.tried.append(candidate.describe(over_limit_reason(over)))
            return False
        try:
            model, secrets = model_for(candidate)
        except Exception as exc:  # a broken credential or backend: nothing was sent, the next one is safe
            reason = unusable_reason(exc)
            logger.warning(
                "agent %s: skipping %s %s: %s", self.agent.name, candidate.provider, candidate.model_id, reason
            )
            self.tried.append(candidate.describe(reason))
            return False
        secrets_register(secrets)
        self._secrets.extend(secrets)
        self.attempt = _Attempt(candidate, self.agent.build_agno_agent(model), ErrorTap(model), secrets)
        return True

    def chosen(self) -> CandidateChosen:
        c = self._current().candidate
        return CandidateChosen(c.provider, c.provider_name, c.model_id, self.tier, c.source)

    def start(self) -> Any:
        """The Agno agent to run now, its error tap listening."""
        attempt = self._current()
        self.output = None
        self.last_tried = attempt.candidate
        self.deadline = time.monotonic() + float(app_settings.RUN_TIMEOUT)
        attempt.tap.activate()
        return attempt.agno_agent

    def time_left(self) -> float:
        """Seconds until the attempt's deadline (0 once it has passed)."""
        return max(self.deadline - time.monotonic(), 0.0)

    def wait_limit(self) -> tuple[float, bool]:
        """How long the next wait on the model may last, and whether that bound is the stream's
        idle timeout (PROVIDERS_STREAM_IDLE_TIMEOUT) rather than the attempt's deadline."""
        left = self.time_left()
        idle = float(providers_settings.STREAM_IDLE_TIMEOUT)
        return (idle, True) if idle < left else (left, False)

    def overdue(self) -> bool:
        """The attempt's deadline has passed (the sync loop checks it between Agno's items)."""
        if time.monotonic() < self.deadline:
            return False
        self.timed_out(idle=False)
        return True

    def timed_out(self, *, idle: bool) -> None:
        """End the attempt as a timeout (settle() classifies it like any provider timeout)."""
        c = self._current().candidate
        if idle:
            what = (
                f"sent nothing for {float(providers_settings.STREAM_IDLE_TIMEOUT):g} s (PROVIDERS_STREAM_IDLE_TIMEOUT)"
            )
        else:
            what = f"did not finish within {float(app_settings.RUN_TIMEOUT):g} s (AGENTS_RUN_TIMEOUT)"
        self.output = None
        self._current().tap.error = AttemptTimedOut(f"{c.provider_name} ({c.model_id}) {what}", provider=c.provider)

    def feed(self, item: Any) -> Delta | None:
        """One item of Agno's stream: a `Delta` to hand on, or None (the final RunOutput is kept)."""
        content_event, run_output = _agno_stream_types()
        if isinstance(item, content_event) and isinstance(item.content, str) and item.content:
            self.token()
            self.text += item.content
            self.pieces.append(item.content)
            return Delta(item.content)
        if isinstance(item, run_output):
            self.output = item
        return None

    def settle(self) -> _Outcome:
        """What the attempt came to (the output is in `self.output`); records nothing."""
        attempt, output = self._current(), self.output
        if output is None:
            exc = attempt.tap.error or AgentError("the model stream ended without an answer")
        else:
            exc = _error_of(output, attempt.tap)
        if exc is None and not self._parsed(output):
            # Agno hands back the raw text when it cannot parse a structured answer: that is no
            # answer (recorded as failed), and no provider outage (no fallback, breaker untouched).
            c = attempt.candidate
            schema = self.agent.output_schema.__name__  # type: ignore[union-attr]
            return _Outcome(
                Failed(
                    self.run,
                    AgentError(  # type: ignore[arg-type]
                        f"{c.provider_name} ({c.model_id}) gave an answer that could not be read as {schema}; try again or use another model.",
                        provider=c.provider,
                        code="unparseable_answer",
                    ),
                )
            )
        if exc is None:
            if not self.cache_hit:  # a replay sent nothing: it says nothing of the provider
                breaker_success(attempt.candidate.key, attempt.candidate.model_id, attempt.candidate.breaker)
            if self.streams_text:
                return _Outcome(Done(self.run, self.text, self.text))  # type: ignore[arg-type]
            self.text = self.agent.render(output.content)
            delta = None
            if self.streamed:
                self.token()
                delta = Delta(self.text)
            return _Outcome(Done(self.run, output.content, self.text), delta)  # type: ignore[arg-type]
        error = self.failed(attempt, exc, delivered=bool(self.text))
        return _Outcome(None if error is None else Failed(self.run, error), retry_in=self.retry_wait)

    def _parsed(self, output: Any) -> bool:
        schema = self.agent.output_schema
        return schema is None or isinstance(getattr(output, "content", None), schema)

    def failed(self, attempt: _Attempt, exc: BaseException, *, delivered: bool) -> AgentError | None:
        """Classify a failure: None to retry (`retry_wait` set) or go on with the next candidate,
        else the error to end with."""
        c = attempt.candidate
        failure = classify(exc, secrets=attempt.secrets, remote_text=not c.user_set_urls)
        self.retry_wait = None
        if failure.retryable and not delivered:
            wait = self._retry_wait(failure)
            if wait is not None:
                self.retried = True
                self.retry_wait = wait
                logger.info(
                    "agent %s: %s %s failed: %s; retrying in %.2f s",
                    self.agent.name,
                    c.provider,
                    c.model_id,
                    failure.reason,
                    wait,
                )
                return None
        if failure.retryable:
            self._trip(c, failure)
        if delivered:
            # Part of the answer reached the caller: another model would start over (no fallback).
            return StreamInterrupted(
                f"{c.provider_name} ({c.model_id}) failed after the answer had started: {failure.reason}",
                provider=c.provider,
                status_code=failure.status_code,
                code="stream_interrupted",
            )
        if failure.retryable:
            self.tried.append(c.describe(failure.reason))
            return None
        logger.warning("agent %s: %s %s refused: %s", self.agent.name, c.provider, c.model_id, failure.reason)
        if failure.status_code is not None and 400 <= failure.status_code < 500:
            return RequestRefused(
                f"{c.provider_name} ({c.model_id}) refused the request: {failure.reason}",
                provider=c.provider,
                status_code=failure.status_code,
                code="request_refused",
            )
        return AgentError(
            f"{c.provider_name} ({c.model_id}) failed: {failure.reason}",
            provider=c.provider,
            status_code=failure.status_code,
        )

    def _retry_wait(self, failure: Failure) -> float | None:
        """Seconds to wait before the one retry of this candidate, or None for no retry."""
        if self.retried:
            return None
        if failure.kind == TRANSIENT or (failure.kind == RATE_LIMITED and failure.retry_after is None):
            return random.uniform(*RETRY_BACKOFF)
        if failure.kind == RATE_LIMITED and failure.retry_after <= float(app_settings.MAX_RETRY_WAIT):  # type: ignore[operator]
            return failure.retry_after
        return None

    def _trip(self, c: Candidate, failure: Failure) -> None:
        """Count the failure on the candidate's breaker, or open it at once when waiting is known
        not to help soon (a long Retry-After, an exhausted quota, a rejected credential)."""
        if failure.kind == QUOTA:
            seconds = breaker_open(c.key, c.model_id, seconds=MAX_OPEN_SECONDS)
        elif (
            failure.kind == RATE_LIMITED
            and failure.retry_after is not None
            and failure.retry_after > float(app_settings.MAX_RETRY_WAIT)
        ):
            seconds = breaker_open(c.key, c.model_id, seconds=failure.retry_after)
        elif failure.kind == REJECTED:
            stored = c.credential.credential
            if stored is not None:
                self.rejected.append((stored.pk, failure.reason))
            seconds = breaker_open(c.key, c.model_id, seconds=float(app_settings.BREAKER_OPEN_SECONDS))
        else:
            seconds = breaker_failure(c.key, c.model_id)
        state = f"circuit open for {seconds:.0f} s" if seconds else "circuit still closed"
        logger.warning(
            "agent %s: %s %s (%s) failed: %s; %s", self.agent.name, c.provider, c.model_id, c.key, failure.reason, state
        )

    def fallback_event(self) -> FallbackTaken:
        last = self.tried[-1]
        return FallbackTaken(last["provider"], last["model"], last["reason"])

    def exhausted(self) -> Failed:
        """Every candidate was left: the run ends naming each (its record names the last tried)."""
        self.attempt = None
        if self.refusal is not None:
            return Failed(self.run, self.refusal)
        return Failed(self.run, NoModelAvailable(self.tier, tried=self.tried))

    def token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def finish(self, end: Done | Failed) -> None:
        """Complete the run record with how the run ended."""
        self.finished = True
        for credential_id, reason in self.rejected:
            credential_mark_failed(
                credential_id=credential_id, code="credential_rejected", message=f"credential rejected: {reason}"
            )
        self.rejected = []
        attempted = self.attempt.candidate if self.attempt else None
        if isinstance(end, Done) and self.cache is not None and attempted is not None and not self.cache_hit:
            key = self.cache.key_for(attempted)
            if key is not None:
                cache_store(self.agent, key, self.pieces, end.content)
        metrics = getattr(self.output, "metrics", None) if isinstance(end, Done) else None
        if metrics is not None and self.admission is not None:
            self.admission.charge(
                attempted, (getattr(metrics, "input_tokens", 0) or 0) + (getattr(metrics, "output_tokens", 0) or 0)
            )
        record_run(self, end)
        if self.run is None:
            return
        candidate = attempted or self.last_tried
        if isinstance(end, Done) and self.cache_hit:
            self._save(
                candidate, RunStatus.SUCCEEDED, output=self.text, input_tokens=0, output_tokens=0, cache_hit=True
            )
        elif isinstance(end, Done):
            self._save(
                candidate,
                RunStatus.SUCCEEDED,
                output=self.text,
                input_tokens=getattr(metrics, "input_tokens", None),
                output_tokens=getattr(metrics, "output_tokens", None),
            )
        elif isinstance(end.error, UserRateLimited):
            self._save(None, RunStatus.RATE_LIMITED, error=str(end.error)[:500])
        else:
            self._save(candidate, RunStatus.FAILED, output=self.text, error=str(end.error)[:500])

    @property
    def cache_hit(self) -> bool:
        return self.cache is not None and self.attempt is not None and self.attempt.candidate is self.cache.hit

    def _current(self) -> _Attempt:
        assert self.attempt is not None
        return self.attempt

    def _elapsed_ms(self, at: float | None = None) -> int:
        return int(((at or time.perf_counter()) - self.started) * 1000)

    def _save(self, candidate: Candidate | None, status: str, **fields: Any) -> None:
        run = self.run
        assert run is not None
        values: dict[str, Any] = {
            "status": status,
            "latency_ms": self._elapsed_ms(),
            "time_to_first_token_ms": self._elapsed_ms(self.first_token_at) if self.first_token_at else None,
            "finished_at": timezone.now(),
            **fields,
        }
        if self.tried:  # the insert wrote the empty list
            values["fallbacks"] = self.tried
        if candidate is not None:
            values.update(
                provider=candidate.provider,
                model_id=candidate.model_id,
                credential_source=candidate.source,
                credential_key=candidate.key,
            )
        # Only what the end of a run sets: the prompt and the rest were written at the start.
        run_update(run, values)
        # run_update sends no post_save: the daily roll-up is kept here.
        count_finished(run)

    def release(self) -> None:
        secrets_unregister(self._secrets)
        self._secrets = []
        if self.probe is not None:
            # A success or failure already settled the breaker (and dropped the claim); this only
            # matters when the probe ended without an outcome (abandoned, unbuildable model).
            breaker_release_probe(self.probe.key, self.probe.model_id)
            self.probe = None

    @property
    def abandoned(self) -> bool:
        """A stream whose caller stopped reading before the end (closed page, broken pipe)."""
        return self.streamed and not self.finished

    def abandon(self) -> None:
        self.finish(
            Failed(
                self.run,
                AgentError("The run was abandoned before it finished (the client went away).", code="abandoned"),
            )
        )

    def result(self, end: Event | None) -> RunResult:
        """`run_agent`'s answer from the loop's last event; raises the error the run ended with."""
        if isinstance(end, Failed):
            raise end.error
        assert isinstance(end, Done)
        return RunResult(end.run, end.content, end.text, self.tried)


def _error_of(output: Any, tap: ErrorTap) -> BaseException | None:
    """Agno returns status ERROR instead of raising: find the real exception."""
    from agno.run.base import RunStatus as AgnoStatus

    if getattr(output, "status", None) != AgnoStatus.error:
        return None
    return tap.error or AgentError(str(output.content or "the model run failed"))


# -- the loop, sync and async (the same lines; keep them so) ---------------------------------------


_END = object()


def _bounded_step(loop: _Loop, items: Iterator[Any]) -> Any:
    """The next item of Agno's sync stream (`_END` at its end), every socket operation on the way
    bounded by the attempt's time left (`providers.http.deadline`). The bound is set around each
    step, never across a `yield`: the caller may resume this generator in another context."""
    with http_deadline(loop.time_left()):
        return next(items, _END)


def _fallback_loop(loop: _Loop) -> Iterator[Event]:
    try:
        for candidate in loop.begin():
            if not loop.prepare(candidate):
                yield loop.fallback_event()
                continue
            if loop.streamed:  # run_* keep only the last event: do not build this one for them
                yield loop.chosen()
            while True:
                agno_agent = loop.start()
                if loop.streams_text:
                    # A blocking read cannot be cancelled: every socket operation of each step is
                    # bounded by the attempt's time left (`_bounded_step`), and the deadline is
                    # checked as each item arrives (a trickle of keep-alive bytes yields none).
                    items = agno_agent.run(loop.prompt, stream=True, yield_run_output=True)
                    try:
                        while True:
                            item = _bounded_step(loop, items)
                            # A read the deadline cut ends in an error item, which is overdue.
                            if item is _END or loop.overdue():
                                break
                            delta = loop.feed(item)
                            if delta is not None:
                                yield delta
                    finally:
                        items.close()
                else:
                    with http_deadline(loop.time_left()) as bound:
                        loop.output = agno_agent.run(loop.prompt)
                    if bound.expired:
                        loop.timed_out(idle=False)
                outcome = loop.settle()
                if outcome.retry_in is None:
                    break
                time.sleep(outcome.retry_in)
            if outcome.delta is not None:
                yield outcome.delta
            if outcome.end is None:
                yield loop.fallback_event()
                continue
            loop.finish(outcome.end)
            yield outcome.end
            return
        end = loop.exhausted()
        loop.finish(end)
        yield end
    finally:
        loop.release()
        if loop.abandoned:
            loop.abandon()


def _released(step: Callable[_P, _T]) -> Callable[_P, _T]:
    """`step`, then this thread's pooled database connection back to the pool: the attempt that
    follows waits on the model for seconds and needs none, and a stream holding one to its end
    would let a few slow streams drain a process's pool (ideaforge/dbpool.py)."""

    @functools.wraps(step)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return step(*args, **kwargs)
        finally:
            release_pooled_connection()

    return run


async def _afallback_loop(loop: _Loop) -> AsyncIterator[Event]:
    try:
        # One thread hop to begin and prepare the first candidate (the usual run needs no other).
        candidates, first_ready = await sync_to_async(_released(loop.begin_and_prepare_first))()
        for i, candidate in enumerate(candidates):
            ready = first_ready if i == 0 else await sync_to_async(_released(loop.prepare))(candidate)
            if not ready:
                yield loop.fallback_event()
                continue
            if loop.streamed:
                yield loop.chosen()
            while True:
                agno_agent = loop.start()
                if loop.streams_text:
                    items = agno_agent.arun(loop.prompt, stream=True, yield_run_output=True)
                    try:
                        while True:
                            # Every wait for the model is bounded (deadline, idle timeout): a
                            # server trickling keep-alive bytes cannot hold the attempt longer.
                            limit, idle = loop.wait_limit()
                            bound = asyncio.timeout(limit)
                            try:
                                async with bound:
                                    item = await anext(items)
                            except StopAsyncIteration:
                                break
                            except TimeoutError:
                                if not bound.expired():
                                    raise
                                loop.timed_out(idle=idle)
                                break
                            delta = loop.feed(item)
                            if delta is not None:
                                yield delta
                    finally:
                        await items.aclose()
                else:
                    bound = asyncio.timeout(loop.time_left())
                    try:
                        async with bound:
                            loop.output = await agno_agent.arun(loop.prompt)
                    except TimeoutError:
                        if not bound.expired():
                            raise
                        loop.timed_out(idle=False)
                outcome = loop.settle()
                if outcome.retry_in is None:
                    break
                await asyncio.sleep(outcome.retry_in)
            if outcome.delta is not None:
                yield outcome.delta
            if outcome.end is None:
                yield loop.fallback_event()
                continue
            await sync_to_async(loop.finish)(outcome.end)
            yield outcome.end
            return
        end = loop.exhausted()
        await sync_to_async(loop.finish)(end)
        yield end
    finally:
        loop.release()
        if loop.abandoned:
            await sync_to_async(loop.abandon)()


# -- entry points ------------------------------------------------------------------------------


def run_agent(
    *,
    agent: RunnableAgent,
    user: AbstractBaseUser,
    prompt: str,
    tier: str | None = None,
    record: bool = True,
    use_cache: bool = True,
) -> RunResult:
    """Run to completion with fallback; raises NoModelAvailable, RequestRefused or AgentError."""
    loop = _Loop(agent, user, prompt, tier, streamed=False, record=record, use_cache=use_cache)
    end: Event | None = None
    for event in _fallback_loop(loop):
        end = event
    return loop.result(end)


def stream_agent(
    *, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None = None, use_cache: bool = True
) -> Iterator[Event]:
    """Yield events as the answer streams in; ends with `Done` or `Failed`."""
    # `yield from` closes the loop when the caller closes this generator (the run is abandoned).
    yield from _fallback_loop(_Loop(agent, user, prompt, tier, streamed=True, use_cache=use_cache))


async def arun_agent(
    *,
    agent: RunnableAgent,
    user: AbstractBaseUser,
    prompt: str,
    tier: str | None = None,
    record: bool = True,
    use_cache: bool = True,
) -> RunResult:
    """`run_agent` for async callers."""
    loop = _Loop(agent, user, prompt, tier, streamed=False, record=record, use_cache=use_cache)
    end: Event | None = None
    async for event in _afallback_loop(loop):
        end = event
    return loop.result(end)


async def astream_agent(
    *, agent: RunnableAgent, user: AbstractBaseUser, prompt: str, tier: str | None = None, use_cache: bool = True
) -> AsyncIterator[Event]:
    """`stream_agent` for async callers."""
    # aclosing: closing this generator closes the loop at once, as `yield from` does for sync.
    async with aclosing(
        _afallback_loop(_Loop(agent, user, prompt, tier, streamed=True, use_cache=use_cache))
    ) as events:
        async for event in events:
            yield event
