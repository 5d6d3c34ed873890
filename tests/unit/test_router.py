"""The learning router: records from event logs, scores, and routing inside the engine."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from podium import (
    Agent,
    ModelError,
    ModelRequest,
    ScriptedModel,
    SqliteStore,
    Task,
    Workflow,
    WorkflowValidationError,
)
from podium.engine import LocalEngine
from podium.event import (
    AgentChosen,
    Event,
    FeedbackRecorded,
    ModelCalled,
    RunStarted,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
)
from podium.ids import RunId, TaskId
from podium.policy import RetryPolicy
from podium.router import Choice, LearningRouter, learn, routing_preferences
from podium.testing.clock import ManualClock
from podium.workflow.validate import validate

NO_RETRY = RetryPolicy(max_attempts=1)
T0 = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def summarize_flow() -> Workflow:
    return Workflow(
        name="summaries",
        agents=(
            Agent(name="steady", capabilities=("summarize",)),
            Agent(name="flaky", capabilities=("summarize", "translate")),
        ),
        tasks=(Task(id="summary", capability="summarize", instruction="Summarize."),),
    )


class _Log:
    """Builds one run's event log by hand."""

    def __init__(self, run_id: str) -> None:
        self.run_id = RunId(run_id)
        self.events: list[Event] = [
            RunStarted(seq=1, run_id=self.run_id, at=T0, workflow="w", inputs={}, graph=())
        ]

    def _common(self, seconds: float) -> dict[str, object]:
        return {
            "seq": len(self.events) + 1,
            "run_id": self.run_id,
            "at": T0 + timedelta(seconds=seconds),
        }

    def task(
        self, task_id: str, agent: str, *, ok: bool, seconds: float = 1.0, cost: float = 0.0
    ) -> None:
        tid = TaskId(task_id)
        fields = {"task_id": tid, "capability": "summarize", "agent": agent, "reason": "test"}
        self.events.append(AgentChosen(**self._common(0), **fields))  # type: ignore[arg-type]
        self.events.append(TaskStarted(**self._common(0), task_id=tid, agent=agent))  # type: ignore[arg-type]
        called = {
            "task_id": tid,
            "agent": agent,
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 1,
        }
        self.events.append(
            ModelCalled(**self._common(seconds), **called, latency_s=seconds, cost=cost)  # type: ignore[arg-type]
        )
        end = self._common(seconds)
        if ok:
            self.events.append(TaskSucceeded(**end, task_id=tid, agent=agent, output="x"))  # type: ignore[arg-type]
        else:
            failed = {"error_type": "ModelError", "message": "no"}
            self.events.append(TaskFailed(**end, task_id=tid, agent=agent, **failed))  # type: ignore[arg-type]

    def feedback(self, score: int, task_id: str | None = None) -> None:
        tid = TaskId(task_id) if task_id else None
        self.events.append(FeedbackRecorded(**self._common(9), score=score, task_id=tid))  # type: ignore[arg-type]


def test_records_fold_outcomes_latency_cost_and_feedback() -> None:
    first, second = _Log("r1"), _Log("r2")
    first.task("a", "steady", ok=True, seconds=2.0, cost=0.02)
    first.task("b", "flaky", ok=False, seconds=0.5)
    first.feedback(5, task_id="a")
    second.task("a", "steady", ok=True, seconds=4.0, cost=0.04)
    second.task("b", "flaky", ok=True, seconds=1.0)
    second.feedback(1)  # the whole run: both agents it routed to

    records = learn([first.events, second.events])

    steady = records[("summarize", "steady")]
    assert (steady.runs, steady.successes, steady.failures) == (2, 2, 0)
    assert steady.mean_latency_s == pytest.approx(3.0)
    assert steady.mean_cost == pytest.approx(0.03)
    assert steady.satisfaction == pytest.approx(0.5)  # a 5 (1.0) and a 1 (0.0)
    flaky = records[("summarize", "flaky")]
    assert (flaky.runs, flaky.successes, flaky.failures) == (2, 1, 1)
    assert flaky.mean_latency_s == pytest.approx(1.0)  # successful attempts only
    assert flaky.satisfaction == pytest.approx(0.0)
    # each event counts once, however often the log is shown
    assert learn([first.events, first.events, second.events]) == records


async def test_bad_feedback_lowers_an_agents_score(store: SqliteStore) -> None:
    unrated, rated = _Log("r1"), _Log("r2")
    for index in range(20):
        for log in (unrated, rated):
            log.task(f"s{index}", "steady", ok=True)
            log.task(f"o{index}", "other", ok=True)
        rated.feedback(1, task_id=f"s{index}")
    assert learn([rated.events])[("summarize", "steady")].satisfaction == 0.0
    assert learn([unrated.events])[("summarize", "steady")].satisfaction is None

    await store.append(unrated.run_id, unrated.events)
    before = await _wins(store, "steady")
    await store.append(rated.run_id, rated.events)
    after = await _wins(store, "steady")

    assert 70 < before < 130  # equal records: about half of 200
    assert after < before - 40


async def _wins(store: SqliteStore, name: str) -> int:
    router = LearningRouter(store, exploration=0.0, rng=random.Random(3))
    agents = (Agent(name="steady"), Agent(name="other"))
    picks = [await router.choose(TaskId("t"), "summarize", agents) for _ in range(200)]
    return sum(pick.agent == name for pick in picks)


async def test_routing_preferences_rank_agents_per_capability(store: SqliteStore) -> None:
    log = _Log("r1")
    for index in range(10):
        log.task(f"s{index}", "steady", ok=True, seconds=1.0)
        log.task(f"f{index}", "flaky", ok=index % 2 == 0, seconds=1.0)
    await store.append(log.run_id, log.events)

    preferences = await routing_preferences(store, window=timedelta(days=30))

    assert [(p.capability, p.agent) for p in preferences] == [
        ("summarize", "steady"),
        ("summarize", "flaky"),
    ]
    steady, flaky = preferences
    assert steady.success_rate == 1.0 and flaky.success_rate == 0.5
    assert steady.runs == 1 and steady.mean_latency_s == pytest.approx(1.0)
    assert steady.expected_share > 0.9
    assert steady.expected_share + flaky.expected_share == pytest.approx(1.0)
    assert "10/10 succeeded" in steady.reason
    assert await routing_preferences(store, window=timedelta(seconds=0)) == []


def test_a_capability_no_agent_has_is_a_validation_problem() -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="steady", capabilities=("summarize",)),),
        tasks=(Task(id="t", capability="sumarize"),),
    )
    with pytest.raises(WorkflowValidationError) as caught:
        validate(flow)
    (problem,) = caught.value.problems
    assert problem.path == "tasks.0.capability"
    assert "'sumarize', which no agent has" in problem.message
    assert "did you mean 'summarize'?" in problem.message


def test_a_task_names_an_agent_or_a_capability_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        Task(id="t", agent="steady", capability="summarize")
    assert Task(id="t", capability="summarize").kind == "agent"


class _Pick:
    """A router that always picks ``flaky``, for checking what the engine does with a choice."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def choose(self, task_id: TaskId, capability: str, candidates: Sequence[Agent]) -> Choice:
        names = [a.name for a in candidates]
        return Choice(agent="flaky", reason="scripted", scores=dict.fromkeys(names, 0.5))

    def observe(self, event: Event) -> None:
        self.seen.append(event.kind)


async def test_the_engine_records_the_choice_before_the_task_runs(store: SqliteStore) -> None:
    router = _Pick()
    engine = LocalEngine(store=store, model=ScriptedModel(["done"]), router=router)
    result = await engine.execute(summarize_flow())

    assert result.ok and result.tasks[TaskId("summary")].agent == "flaky"
    kinds = [e.kind for e in await store.read(result.run_id)]
    assert kinds.index("agent_chosen") < kinds.index("task_started")
    (chosen,) = [e for e in result.events if isinstance(e, AgentChosen)]
    assert (chosen.task_id, chosen.capability, chosen.agent) == ("summary", "summarize", "flaky")
    assert chosen.scores == {"steady": 0.5, "flaky": 0.5}
    assert "task_succeeded" in router.seen  # the router sees the run's events


async def test_the_router_learns_to_avoid_a_flaky_agent(store: SqliteStore) -> None:
    """Two agents share a capability; one fails half the time. Over 50 runs the router's
    share for the failing one drops well below half."""
    failures = random.Random(11)

    def answer(request: ModelRequest) -> str | ModelError:
        assert request.caller is not None
        if request.caller.agent == "flaky" and failures.random() < 0.5:
            return ModelError("flaky today", kind="bad_request")
        return "a summary"

    model = ScriptedModel(answer)
    rng = random.Random(5)
    # A clock that stands still: every call takes no time, so the router's latency factor is
    # equal for both agents and only their outcomes (seeded) decide the picks.
    clock = ManualClock(datetime.now(UTC))
    picks: list[str] = []
    for _ in range(50):
        router = LearningRouter(store, rng=rng, clock=clock)
        engine = LocalEngine(store=store, model=model, retry=NO_RETRY, router=router, clock=clock)
        result = await engine.execute(summarize_flow())
        picks.append(result.tasks[TaskId("summary")].agent or "")

    late_share = picks[25:].count("flaky") / 25
    overall_share = picks.count("flaky") / 50
    print(f"flaky share: overall {overall_share:.2f}, last 25 runs {late_share:.2f}")
    assert late_share < 0.25
    assert overall_share < 0.5


async def test_a_resumed_run_keeps_the_recorded_choice(store: SqliteStore) -> None:
    failing = ScriptedModel([ModelError("down", kind="bad_request")])
    first = LocalEngine(store=store, model=failing, retry=NO_RETRY, router=_Pick())
    failed = await first.execute(summarize_flow())
    assert not failed.ok

    second = LocalEngine(store=store, model=ScriptedModel(["done"]), router=_Always("steady"))
    resumed = await second.resume(summarize_flow(), failed.run_id)

    assert resumed.ok and resumed.tasks[TaskId("summary")].agent == "flaky"
    assert sum(isinstance(e, AgentChosen) for e in resumed.events) == 1


class _Always:
    def __init__(self, name: str) -> None:
        self.name = name

    async def choose(self, task_id: TaskId, capability: str, candidates: Sequence[Agent]) -> Choice:
        return Choice(agent=self.name, reason="fixed")

    def observe(self, event: Event) -> None:
        pass
