"""A cancelling join meets resume: whenever the run is killed, the losers stay cancelled (those
the kill cut off run again, and the join cancels them again) and the winner's output is kept
(a property over where the kill lands)."""

from __future__ import annotations

import asyncio

import pytest
from held_model import Held
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium import Agent, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.event import Event, TaskCancelled, TaskSucceeded
from podium.ids import RunId, TaskId
from podium.policy import RetryPolicy

NO_RETRY = RetryPolicy(max_attempts=1)


def race(losers: int) -> Workflow:
    names = [f"lose{n}" for n in range(losers)]
    return Workflow(
        name="race",
        agents=(Agent(name="x"),),
        tasks=[
            Task(id="win", agent="x", instruction="win"),
            *(Task(id=n, agent="x", instruction=n) for n in names),
            Task(
                id="pick",
                agent="x",
                instruction="pick {{ win }}",
                needs=(TaskId("win"), *(TaskId(n) for n in names)),
                join="any",
                cancel_rest=True,
            ),
        ],
    )


async def kill_during_the_join(store: SqliteStore, losers: int, kill_after: int) -> RunId:
    """Run until ``kill_after`` events followed the winner's success (or the join is running),
    then cancel the run as Ctrl-C would."""
    names = [f"lose{n}" for n in range(losers)]
    model = Held("pick", *names, after={"win": names})  # the losers run: the race is real
    running: list[asyncio.Task[object]] = []
    seen: list[Event] = []

    def kill(event: Event) -> None:
        if seen or (isinstance(event, TaskSucceeded) and event.task_id == "win"):
            seen.append(event)
        if len(seen) == kill_after + 1 and not running[0].cancelling():
            running[0].cancel()

    engine = LocalEngine(store=store, model=model.model(), retry=NO_RETRY, subscribers=[kill])
    running.append(asyncio.get_running_loop().create_task(engine.execute(race(losers))))
    joined = asyncio.get_running_loop().create_task(model.started("pick").wait())
    await asyncio.wait([running[0], joined], return_when=asyncio.FIRST_COMPLETED)
    joined.cancel()
    if not running[0].done() and not running[0].cancelling():
        running[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await running[0]
    (summary,) = await store.list_runs()
    assert summary.status == "cancelled"
    assert model.calls["win"] == 1
    return summary.run_id


async def kill_then_resume(losers: int, kill_after: int) -> None:
    async with SqliteStore(":memory:") as store:
        run_id = await kill_during_the_join(store, losers, kill_after)
        before = await store.read(run_id)
        withdrawn = [e for e in before if isinstance(e, TaskCancelled) and not e.is_interrupted]
        cancelled = {e.task_id for e in withdrawn}  # cut off by the kill: run again
        again = Held(*(f"lose{n}" for n in range(losers)))  # a loser run again would hang
        engine = LocalEngine(store=store, model=again.model(), retry=NO_RETRY)

        result = await engine.resume(race(losers), run_id)

        assert result.ok, result.error
        assert result.tasks["win"].status == "succeeded"
        assert result.tasks["win"].output == "win done"  # kept, not asked again
        assert again.calls["win"] == 0
        assert result.tasks["pick"].output == "pick done"
        for n in range(losers):
            assert result.tasks[f"lose{n}"].status == "cancelled"
            if f"lose{n}" in cancelled:  # cancelled before the kill: it stays cancelled
                assert again.calls[f"lose{n}"] == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(losers=st.integers(1, 3), kill_after=st.integers(0, 5))
def test_losers_stay_cancelled_and_the_winner_is_kept_across_a_kill(
    losers: int, kill_after: int
) -> None:
    asyncio.run(kill_then_resume(losers, kill_after))
