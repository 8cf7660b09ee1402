"""`agents.batches.batches`: what is ready together leaves together, in order, and nothing waits."""

from __future__ import annotations

import asyncio

import pytest

from agents.batches import batches


async def _collect(source) -> list[list[int]]:
    return [batch async for batch in batches(source)]


def test_items_ready_together_come_as_one_batch_in_order():
    async def burst():
        for i in range(20):
            yield i  # never suspends: all twenty are ready at once

    assert asyncio.run(_collect(burst())) == [list(range(20))]


def test_items_that_arrive_apart_come_one_by_one_without_waiting_for_more():
    async def main() -> list[tuple[float, list[int]]]:
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def slow():
            for i in range(3):
                await asyncio.sleep(0.05)
                yield i

        return [(loop.time() - started, batch) async for batch in batches(slow())]

    arrivals = asyncio.run(main())
    assert [batch for _, batch in arrivals] == [[0], [1], [2]]
    assert arrivals[0][0] < 0.09, "the first item waited for the ones after it"


def test_an_error_comes_after_the_items_before_it():
    async def failing():
        yield 1
        yield 2
        raise ValueError("upstream broke")

    async def main() -> list[list[int]]:
        seen = []
        with pytest.raises(ValueError, match="upstream broke"):
            async for batch in batches(failing()):
                seen.append(batch)
        return seen

    assert asyncio.run(main()) == [[1, 2]]


def test_cancelling_the_consumer_closes_the_source_before_it_returns():
    closed = asyncio.Event()

    async def endless():
        try:
            i = 0
            while True:
                await asyncio.sleep(0.01)
                yield i
                i += 1
        finally:
            await asyncio.sleep(0)  # cleanup that awaits, as the run's abandon record does
            closed.set()

    async def main() -> bool:
        async def consume():
            async for _ in batches(endless()):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return closed.is_set()

    assert asyncio.run(main()), "the source was not closed when its consumer was cancelled"


def test_a_consumer_that_stops_early_closes_the_source():
    closed = []

    async def source():
        try:
            for i in range(100):
                await asyncio.sleep(0)
                yield i
        finally:
            closed.append(True)

    async def main() -> None:
        stream = batches(source())
        await anext(stream)
        await stream.aclose()

    asyncio.run(main())
    assert closed == [True]


def test_closing_the_forge_body_while_a_send_waits_closes_the_run_stream():
    """Django closes the response body at its `yield` when the client leaves during a send; the
    run's stream (then inside `batches`' task, waiting on the model) must be closed too."""
    from agents.events import Delta
    from agents.views import _async_body

    closed = []

    async def events():
        try:
            yield Delta("first")
            await asyncio.sleep(10)  # the model is slow: the run waits here
            yield Delta("never")
        finally:
            closed.append(True)

    async def main() -> None:
        body = _async_body(events(), lambda event: [event.text], "", "")
        assert await anext(body) == "first"
        await body.aclose()

    asyncio.run(asyncio.wait_for(main(), 5))
    assert closed == [True]
