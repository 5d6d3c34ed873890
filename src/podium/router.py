"""Router: picks the agent for a task that names a capability, and learns which agent serves it.

``LearningRouter`` learns from the event logs in the store. For each task it routed
(``agent_chosen``) it folds, per (capability, agent):

- **successes / failures**: each ``task_succeeded`` counts one success, each ``task_failed``
  (every failed attempt, retried or not) one failure, for the agent named in that event;
- **latency**: a successful attempt's duration, ``task_started`` to ``task_succeeded``;
- **cost**: the ``model_called`` costs of an attempt;
- **satisfaction**: ``feedback_recorded`` scores (1-5, mapped to 0-1) on that task, or on the
  whole run (then they count for every agent the run routed to).

Each candidate's score is::

    score = p * latency_factor * cost_factor * satisfaction_factor
    p                   ~ Beta(successes + 1, failures + 1)      (a Thompson sample)
    latency_factor      = 1 - LATENCY_WEIGHT * (latency - fastest) / slowest
    cost_factor         = 1 - COST_WEIGHT * (cost - cheapest) / dearest
    satisfaction_factor = 0.5 + (sum of ratings + 0.5 * PRIOR_RATINGS) / (n + PRIOR_RATINGS)

latency and cost compare a candidate with the others (a factor is 1 when unknown or all are
equal); satisfaction starts from PRIOR_RATINGS neutral ratings, so one rating moves it but does
not decide. The highest score wins. Sampling ``p`` explores (an agent with little history draws
widely); besides, with probability ``exploration`` the pick is uniform, so none is starved.
The records are read from the store at a router's first choice, then kept up to date from the
events of the runs it routes for (``observe``), so a long run learns as it goes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, assert_never

from podium.agent import Agent
from podium.clock import Clock, SystemClock
from podium.event import (
    AgentChosen,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    BudgetExceeded,
    CircuitChanged,
    ClaimVerified,
    ContextWritten,
    Event,
    FeedbackRecorded,
    LoopIterated,
    MapExpanded,
    ModelCalled,
    OutputRejected,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    RouteChosen,
    RunCompleted,
    RunResumed,
    RunStarted,
    SignalAwaited,
    SignalReceived,
    SourcesRetrieved,
    TaskCancelled,
    TaskFailed,
    TaskRerouted,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    ToolCalled,
    ToolDenied,
)
from podium.ids import RunId, TaskId
from podium.stores.base import Store

__all__ = [
    "COST_WEIGHT",
    "LATENCY_WEIGHT",
    "PRIOR_RATINGS",
    "Choice",
    "LearningRouter",
    "Preference",
    "Record",
    "Router",
    "learn",
    "routing_preferences",
]

LATENCY_WEIGHT = 0.2
"""How much of its score the slowest candidate loses for being slow."""
COST_WEIGHT = 0.2
"""How much of its score the most expensive candidate loses for its cost."""
PRIOR_RATINGS = 2
"""Neutral ratings the satisfaction estimate starts from."""
WINDOW = timedelta(days=30)
"""Runs started longer ago than this are not learnt from."""
MAX_RUNS = 1000
"""At most this many recent runs are read when a router starts."""
_SHARE_DRAWS = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """The agent a router picked, why, and every candidate's score."""

    agent: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


class Router(Protocol):
    """Picks an agent for a task that names a capability.

    Contract:
        - ``choose`` returns the name of one of ``candidates`` (never empty).
        - ``observe`` sees each event of the runs the router chooses for, as it is recorded; a
          router that does not learn ignores them. It must not block.
    """

    async def choose(self, task_id: TaskId, capability: str, candidates: Sequence[Agent]) -> Choice:
        """Pick one of ``candidates`` for task ``task_id``."""
        ...

    def observe(self, event: Event) -> None:
        """See one event of a run this router chooses for."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """What the logs show about one agent serving one capability."""

    capability: str
    agent: str
    runs: int
    successes: int
    failures: int
    mean_latency_s: float | None
    mean_cost: float | None
    satisfaction: float | None
    """Mean feedback mapped to 0-1 (1 is a 5); None without feedback."""
    ratings: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Preference:
    """One line of ``podium metrics --routing``: how the router sees an agent for a capability."""

    capability: str
    agent: str
    runs: int
    success_rate: float | None
    mean_latency_s: float | None
    mean_cost: float | None
    satisfaction: float | None
    expected_share: float
    """The share of this capability's tasks the router would now give this agent."""
    reason: str


class LearningRouter:
    """A router that learns from outcomes in ``store`` (see the module docstring).

    Args:
        store: where past runs are read from.
        exploration: probability of a uniform pick instead of the best score.
        rng: randomness for sampling and exploration (seed it for reproducible runs).
        window: only runs started this recently are learnt from.
        clock: tells "now" for the window.
    """

    def __init__(
        self,
        store: Store,
        *,
        exploration: float = 0.1,
        rng: random.Random | None = None,
        window: timedelta = WINDOW,
        clock: Clock | None = None,
    ) -> None:
        if not 0 <= exploration <= 1:
            raise ValueError(f"exploration is a probability, got {exploration}")
        self.store = store
        self.exploration = exploration
        self.rng = rng or random.Random()
        self.window = window
        self.clock = clock or SystemClock()
        self._learner: _Learner | None = None
        self._early: list[Event] = []
        """Events observed before the store was read that routing learns from (none for a
        run that routes nothing), folded once it has been; ``_early_routed``: their tasks."""
        self._early_routed: set[tuple[RunId, TaskId]] = set()
        self._is_replaying = False
        """The run being observed re-executes a recorded one: nothing to learn."""

    async def choose(self, task_id: TaskId, capability: str, candidates: Sequence[Agent]) -> Choice:
        """Pick the candidate with the best sampled score (or, now and then, any)."""
        if not candidates:
            raise ValueError(f"no candidate agent for capability {capability!r}")
        learner = await self._loaded()
        names = [a.name for a in candidates]
        records = {name: learner.record(capability, name) for name in names}
        scores = _scores(records, self.rng)
        if len(names) == 1:
            return Choice(agent=names[0], reason="the only agent with it", scores=scores)
        if self.rng.random() < self.exploration:
            name = self.rng.choice(names)
            return Choice(agent=name, reason="explored (uniform pick)", scores=scores)
        best = max(names, key=lambda n: scores[n])
        return Choice(agent=best, reason=f"best score: {_describe(records[best])}", scores=scores)

    def observe(self, event: Event) -> None:
        """Learn from one event of a run this router routes for (not from replays)."""
        if isinstance(event, RunStarted):
            self._is_replaying = event.replay_of is not None
        if self._is_replaying:
            return
        if self._learner is not None:
            self._learner.fold(event)
        elif _teaches(event, self._early_routed):
            self._early.append(event)

    def records(self) -> dict[tuple[str, str], Record]:
        """What the router knows now, by (capability, agent); empty before its first choice."""
        return self._learner.records() if self._learner else {}

    async def _loaded(self) -> _Learner:
        if self._learner is None:
            learner = _Learner()
            for log in await _read_logs(self.store, self.window, self.clock.now()):
                learner.fold_all(log)
            if self._learner is None:  # another choice may have loaded it meanwhile
                learner.fold_all(self._early)
                self._early.clear()
                self._early_routed.clear()
                self._learner = learner
        return self._learner


def _teaches(event: Event, routed: set[tuple[RunId, TaskId]]) -> bool:
    """Whether the learner reads ``event`` (a choice, feedback, a routed task's step)."""
    if isinstance(event, AgentChosen):
        routed.add((event.run_id, event.task_id))
        return True
    if routed and isinstance(event, TaskStarted | ModelCalled | TaskSucceeded | TaskFailed):
        return (event.run_id, event.task_id) in routed
    return isinstance(event, FeedbackRecorded)  # most events of most runs: nothing routed


def learn(logs: Iterable[Sequence[Event]]) -> dict[tuple[str, str], Record]:
    """The records that run event ``logs`` show, by (capability, agent)."""
    learner = _Learner()
    for log in logs:
        if not is_replay(log):
            learner.fold_all(log)
    return learner.records()


async def routing_preferences(store: Store, *, window: timedelta = WINDOW) -> list[Preference]:
    """How the router would route each capability now, from the runs in ``store``.

    ``expected_share`` is estimated by drawing the scores many times (seeded: the same logs give
    the same figures) among the agents seen serving the capability, before exploration.
    """
    logs = await _read_logs(store, window, SystemClock().now())
    records = learn(logs)
    by_capability: dict[str, dict[str, Record]] = defaultdict(dict)
    for (capability, agent), record in records.items():
        by_capability[capability][agent] = record
    preferences: list[Preference] = []
    rng = random.Random(0)
    for capability in sorted(by_capability):
        group = by_capability[capability]
        wins = dict.fromkeys(group, 0)
        for _ in range(_SHARE_DRAWS):
            scores = _scores(group, rng)
            wins[max(scores, key=lambda n: scores[n])] += 1
        for agent in sorted(group, key=lambda n: (-wins[n], n)):
            record = group[agent]
            total = record.successes + record.failures
            preferences.append(
                Preference(
                    capability=capability,
                    agent=agent,
                    runs=record.runs,
                    success_rate=record.successes / total if total else None,
                    mean_latency_s=record.mean_latency_s,
                    mean_cost=record.mean_cost,
                    satisfaction=record.satisfaction,
                    expected_share=wins[agent] / _SHARE_DRAWS,
                    reason=_describe(record),
                )
            )
    return preferences


# -- scoring -------------------------------------------------------------------------------------


def _scores(records: dict[str, Record], rng: random.Random) -> dict[str, float]:
    """Each agent's score (module docstring), rounded for the log."""
    latency = _relative({n: r.mean_latency_s for n, r in records.items()}, LATENCY_WEIGHT)
    cost = _relative({n: r.mean_cost for n, r in records.items()}, COST_WEIGHT)
    scores: dict[str, float] = {}
    for name, record in records.items():
        sample = rng.betavariate(record.successes + 1, record.failures + 1)
        score = sample * latency[name] * cost[name] * _satisfaction_factor(record)
        scores[name] = round(score, 4)
    return scores


def _relative(values: dict[str, float | None], weight: float) -> dict[str, float]:
    """``1 - weight * (value - lowest) / highest`` among the known values; 1 when unknown."""
    known = [v for v in values.values() if v is not None]
    highest = max(known, default=0.0)
    lowest = min(known, default=0.0)
    if highest <= 0:
        return dict.fromkeys(values, 1.0)
    return {n: 1.0 if v is None else 1 - weight * (v - lowest) / highest for n, v in values.items()}


def _satisfaction_factor(record: Record) -> float:
    total = (record.satisfaction or 0.0) * record.ratings
    return 0.5 + (total + 0.5 * PRIOR_RATINGS) / (record.ratings + PRIOR_RATINGS)


def _describe(record: Record) -> str:
    total = record.successes + record.failures
    parts = [f"{record.successes}/{total} succeeded" if total else "no outcomes yet"]
    if record.mean_latency_s is not None:
        parts.append(f"{record.mean_latency_s:.2f}s mean")
    if record.mean_cost:
        parts.append(f"${record.mean_cost:.4f} mean")
    if record.satisfaction is not None:
        parts.append(f"satisfaction {record.satisfaction:.2f} ({record.ratings} ratings)")
    return ", ".join(parts)


# -- learning from logs --------------------------------------------------------------------------


async def _read_logs(store: Store, window: timedelta, now: datetime) -> list[list[Event]]:
    logs: list[list[Event]] = []
    for summary in await store.list_runs(limit=MAX_RUNS, since=now - window):
        logs.append(await store.read(summary.run_id))
    return logs


def is_replay(log: Sequence[Event]) -> bool:
    """Whether a run re-executes a recorded one (its outcomes teach nothing new)."""
    return bool(log) and isinstance(log[0], RunStarted) and log[0].replay_of is not None


@dataclass(slots=True)
class _Tally:
    """Running sums for one (capability, agent)."""

    runs: set[RunId] = field(default_factory=set)
    successes: int = 0
    failures: int = 0
    latency_s: float = 0.0
    timed: int = 0
    cost: float = 0.0
    costed: int = 0
    rating: float = 0.0
    ratings: int = 0


@dataclass(slots=True)
class _Attempt:
    capability: str
    started: datetime | None = None
    cost: float = 0.0


class _Learner:
    """Folds events, of any number of runs, into tallies; each event counts once."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        self._seen: dict[RunId, int] = {}
        self._open: dict[tuple[RunId, TaskId], _Attempt] = {}
        """Routed tasks of each run, by task id: the capability and the current attempt."""
        self._served: dict[RunId, dict[TaskId, tuple[str, str]]] = defaultdict(dict)
        """Who served each routed task of a run (feedback is credited to them)."""

    def fold_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.fold(event)

    def fold(self, event: Event) -> None:
        if event.seq <= self._seen.get(event.run_id, 0):
            return
        self._seen[event.run_id] = event.seq
        match event:
            case AgentChosen():
                self._open[(event.run_id, event.task_id)] = _Attempt(event.capability)
                self._served[event.run_id][event.task_id] = (event.capability, event.agent)
                self._tallies[(event.capability, event.agent)].runs.add(event.run_id)
            case FeedbackRecorded():
                self._feedback(event)
            case TaskStarted() | ModelCalled() | TaskSucceeded() | TaskFailed():
                self._attempted(event)
            case (
                RunStarted()
                | RunResumed()
                | RunCompleted()
                | TaskSkipped()
                | ToolCalled()
                | ContextWritten()
                | OutputRejected()
                | TaskRetried()
                | TaskRerouted()
                | RouteChosen()
                | MapExpanded()
                | LoopIterated()
                | CircuitChanged()
                | BudgetExceeded()
                | ApprovalRequested()
                | ApprovalGranted()
                | ApprovalDenied()
                | PlanCreated()
                | PlanRepaired()
                | PlanRejected()
                | SourcesRetrieved()
                | ClaimVerified()
                | ToolDenied()
                | TaskCancelled()
                | SignalReceived()
                | SignalAwaited()
            ):
                pass  # nothing a routing outcome depends on
            case _:
                assert_never(event)

    def _attempted(self, event: TaskStarted | ModelCalled | TaskSucceeded | TaskFailed) -> None:
        """Count an attempt of a routed task: its start, its calls' cost, its outcome."""
        attempt = self._open.get((event.run_id, event.task_id))
        if attempt is None:
            return
        match event:
            case TaskStarted():
                attempt.started, attempt.cost = event.at, 0.0
            case ModelCalled():
                attempt.cost += event.cost
            case TaskSucceeded() | TaskFailed():
                if event.agent is not None:
                    self._outcome(event, attempt)

    def _outcome(self, event: TaskSucceeded | TaskFailed, attempt: _Attempt) -> None:
        assert event.agent is not None
        tally = self._tallies[(attempt.capability, event.agent)]
        tally.runs.add(event.run_id)
        self._served[event.run_id][event.task_id] = (attempt.capability, event.agent)
        tally.cost += attempt.cost
        tally.costed += 1
        if isinstance(event, TaskFailed):
            tally.failures += 1
            return
        tally.successes += 1
        if attempt.started is not None:
            tally.latency_s += (event.at - attempt.started).total_seconds()
            tally.timed += 1

    def _feedback(self, event: FeedbackRecorded) -> None:
        served = self._served.get(event.run_id, {})
        if event.task_id is not None:
            targets = [served[event.task_id]] if event.task_id in served else []
        else:
            targets = sorted(set(served.values()))
        rating = (min(max(event.score, 1), 5) - 1) / 4
        for target in targets:
            tally = self._tallies[target]
            tally.rating += rating
            tally.ratings += 1

    def record(self, capability: str, agent: str) -> Record:
        tally = self._tallies.get((capability, agent)) or _Tally()
        return _record(capability, agent, tally)

    def records(self) -> dict[tuple[str, str], Record]:
        return {key: _record(*key, tally) for key, tally in self._tallies.items()}


def _record(capability: str, agent: str, tally: _Tally) -> Record:
    return Record(
        capability=capability,
        agent=agent,
        runs=len(tally.runs),
        successes=tally.successes,
        failures=tally.failures,
        mean_latency_s=tally.latency_s / tally.timed if tally.timed else None,
        mean_cost=tally.cost / tally.costed if tally.costed else None,
        satisfaction=tally.rating / tally.ratings if tally.ratings else None,
        ratings=tally.ratings,
    )
