"""Events of planning, retrieval and verification: plans made, repaired, rejected; sources
found; claims checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import JsonValue

from podium.event.run import GraphNode
from podium.frozen import fast_init
from podium.ids import RunId, TaskId

__all__ = [
    "ClaimVerified",
    "PlanCreated",
    "PlanRejected",
    "PlanRepaired",
    "SourcesRetrieved",
    "Verdict",
]

Verdict = Literal["supported", "unsupported", "contradicted"]
"""What a verifier found for one claim against the sources in the context."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PlanCreated:
    """A plan task has a plan to execute: the first one, or a revision after a failure.

    ``steps`` are the graph nodes of the tasks it will run (ids qualified under the plan
    task); ``plan`` is the plan itself as the planner gave it (after any repairs).
    """

    kind: Literal["plan_created"] = "plan_created"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    revision: int
    """1 for the first plan; each re-plan adds one."""
    steps: tuple[GraphNode, ...]
    plan: JsonValue
    reason: str = ""
    """Why this plan was made: the goal for the first one, what went wrong for a revision."""
    kept: tuple[TaskId, ...] = ()
    """Steps of earlier revisions that succeeded and are kept, not redone."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRepaired:
    """A plan had problems that were safe to fix without asking again (each one listed)."""

    kind: Literal["plan_repaired"] = "plan_repaired"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    revision: int
    repairs: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRejected:
    """A plan could not be executed or safely repaired; the planner is asked again."""

    kind: Literal["plan_rejected"] = "plan_rejected"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    revision: int
    ask: int
    """Which ask of this revision was rejected (1 is the first)."""
    problems: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SourcesRetrieved:
    """Passages found in the knowledge base for a task (they become citable sources).

    Each passage is ``{"id", "document", "title", "text", "score"}``; ``id`` is what an answer
    cites.
    """

    kind: Literal["sources_retrieved"] = "sources_retrieved"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    query: str
    passages: tuple[dict[str, JsonValue], ...]
    skipped: tuple[dict[str, str], ...] = ()
    """Documents of the knowledge base that could not be read, each ``{"document",
    "reason"}`` (on the first retrieval after the documents were read)."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimVerified:
    """A verifier checked one claim of a draft against the sources in the context.

    ``agent`` and ``model`` are those that wrote the draft (what the hallucination rate is
    charged to); ``task_id`` is the verifying task.
    """

    kind: Literal["claim_verified"] = "claim_verified"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    subject: str
    """The context key holding the draft that was checked."""
    claim: str
    verdict: Verdict
    evidence: str = ""
    sources: tuple[str, ...] = ()
    """Passage ids the claim cites."""
    agent: str | None = None
    model: str | None = None
    iteration: int = 0
