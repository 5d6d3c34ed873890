"""Attempts that share a timeout share one loop timer, with ``asyncio.timeout``'s semantics."""

from __future__ import annotations

import asyncio
import gc
import weakref

from podium.engine.deadline import DeadlineQueue, deadlines


async def attempt(queue: DeadlineQueue, work: asyncio.Event | None) -> str:
    """An attempt under ``queue``'s timeout: it ends when ``work`` is set (at once if None)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as timeout:
        entry = queue.add(loop, timeout)
        try:
            if work is not None:
                await work.wait()
            return "done"
        finally:
            queue.remove(entry)


async def outcome(queue: DeadlineQueue, work: asyncio.Event | None) -> str:
    """What ``attempt`` came to: ``"done"``, or ``"timed out"`` past its deadline."""
    try:
        return await attempt(queue, work)
    except TimeoutError:
        return "timed out"


async def test_attempts_share_one_queue_and_leave_it_when_they_end() -> None:
    loop = asyncio.get_running_loop()
    queue = deadlines(loop, 600.0)
    assert deadlines(loop, 600.0) is queue
    assert deadlines(loop, 30.0) is not queue
    work = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        running = [group.create_task(attempt(queue, work)) for _ in range(10)]
        await asyncio.sleep(0)  # each has entered its timeout

        assert len(queue) == 10 and queue.is_armed

        work.set()
    assert [r.result() for r in running] == ["done"] * 10
    assert len(queue) == 0


async def test_attempts_past_the_deadline_time_out_and_the_others_do_not() -> None:
    queue = DeadlineQueue(0.01)
    never = asyncio.Event()  # only the deadline can end these

    async with asyncio.timeout(30), asyncio.TaskGroup() as group:  # bound: a queue that never fires
        running = [group.create_task(outcome(queue, w)) for w in (never, None, never)]

    assert [r.result() for r in running] == ["timed out", "done", "timed out"]
    assert len(queue) == 0 and not queue.is_armed


async def test_a_later_attempt_times_out_after_the_earlier_ones_ended() -> None:
    queue = DeadlineQueue(0.01)
    assert await attempt(queue, None) == "done"  # ended long before its deadline

    async with asyncio.timeout(30):  # bound: a queue that never fires again
        assert await outcome(queue, asyncio.Event()) == "timed out"


async def test_a_cancel_from_outside_is_not_a_timeout() -> None:
    queue = DeadlineQueue(600.0)
    seen: list[BaseException] = []

    async def cancelled() -> None:
        try:
            await attempt(queue, asyncio.Event())
        except BaseException as exc:  # what the attempt raised, kept for the assertion
            seen.append(exc)
            raise

    async with asyncio.TaskGroup() as group:
        running = group.create_task(cancelled())
        await asyncio.sleep(0)
        running.cancel()

    assert running.cancelled()
    assert [type(e) for e in seen] == [asyncio.CancelledError]
    assert len(queue) == 0


def test_a_closed_loop_and_its_queues_go_away() -> None:
    loop = asyncio.new_event_loop()
    queue = deadlines(loop, 600.0)
    assert loop.run_until_complete(attempt(queue, None)) == "done"
    assert queue.is_armed  # its timer stays set, 10 minutes ahead, on the loop
    loop.close()
    gone = weakref.ref(loop)
    del loop, queue

    gc.collect()

    assert gone() is None
