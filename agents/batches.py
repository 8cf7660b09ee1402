"""A run's events in batches: those that are ready together go out in one piece.

A fast provider sends a whole answer in a few TCP reads, and Agno turns each read into many
events at once. Sending each as its own HTTP body chunk cost a server `send` (and Django's
per-chunk wrapping) per event: about a tenth of the server's CPU per streamed run. Here a task
pulls the events into a queue, and the stream takes whatever is queued each time it gets to run,
so events that arrived together leave together; a slow provider's events still leave one by
one, the moment each arrives (nothing waits for a batch to fill).

Cancelling the iteration (a client that left) cancels the task, which closes the run's stream
(that closes the upstream request and records the run as abandoned) before the iteration ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Raised:
    def __init__(self, error: Exception) -> None:
        self.error = error


async def batches(items: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    """`items` as lists of the ones ready together, in order; an error from `items` is raised
    after the items before it have been yielded."""
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pull() -> None:
        async with aclosing(items):  # type: ignore[type-var]
            try:
                async for item in items:
                    queue.put_nowait(item)
            except Exception as exc:  # not CancelledError: a cancelled pull just ends
                queue.put_nowait(_Raised(exc))
            queue.put_nowait(_END)

    puller = asyncio.create_task(pull())
    try:
        while True:
            # The queue is empty here (its items were taken before this yielded), so this suspends:
            # a cancellation reaches this loop even when the events never pause.
            ready = [await queue.get()]
            while not queue.empty():
                ready.append(queue.get_nowait())
            end = ready[-1] is _END
            if end:
                ready.pop()
            raised = ready.pop() if ready and isinstance(ready[-1], _Raised) else None
            if ready:
                yield ready  # type: ignore[misc]
            if raised is not None:
                raise raised.error
            if end:
                return
    finally:
        if not puller.done():
            puller.cancel()
        with suppress(asyncio.CancelledError):
            await puller
