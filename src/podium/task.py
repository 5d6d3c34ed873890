"""Task: one node of a workflow graph.

A task is exactly one of:

- an **agent task** (``agent``, or ``capability``: the router picks one of the agents that have
  it): the agent answers ``instruction`` and its answer is written to the context key
  ``output``; with ``routes`` the agent instead picks one of those tasks to run next (the
  others are skipped);
- a **map** (``map``): one copy of ``map.task`` per item of a list found in the context at run
  time, run in parallel, their outputs collected in order;
- a **loop** (``loop``): its ``tasks`` run as a graph, again and again, until ``until`` holds or
  ``max_iterations`` is reached;
- a **sub-workflow** (``workflow``): another workflow run with ``inputs`` rendered from this
  context, its output written to ``output``;
- a **recursive call** (``recurse``): the workflow this task is in, or one enclosing it, run
  again as a sub-workflow (in its own context namespace), at most ``max_depth`` levels deep;
- a **wait** (``wait``): the run waits for a named signal sent from outside (``podium
  signal RUN NAME --data JSON``, ``podium.signal``, ``POST /v1/runs/{id}/signals/{name}``);
  its output is the signal's data;
- a **plan** (``plan``): a planner agent turns a goal into a graph of agent tasks for the team,
  which then runs; a failed step or a rejecting review makes it re-plan the rest
  (``podium.orchestrator.planning``).

An agent task with ``verifies`` is a verification: its agent checks the claims of the draft
in that context key, and each verdict is recorded (``claim_verified``).

``needs`` and ``join`` say when it may start; ``when`` may skip it. ``cancel_rest``, ``end``
and ``cancels`` withdraw running tasks (``task_cancelled``, see ``podium.engine.region``);
``lock`` makes a critical section.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from podium.budget import Budget
from podium.event import TaskKind
from podium.ids import TaskId
from podium.policy import Duration

if TYPE_CHECKING:
    from podium.workflow.model import Workflow

__all__ = [
    "Approval",
    "AtLeast",
    "GroundingSpec",
    "Join",
    "LoopSpec",
    "MapSpec",
    "PlanSpec",
    "RecurseSpec",
    "Task",
    "WaitSpec",
]

_ID_PATTERN = r"^[A-Za-z_][\w-]*$"


class Approval(BaseModel):
    """A human must approve a task's output before it counts.

    The task runs, then the run waits (``podium approvals`` lists it) until someone approves
    it, possibly with an edited output, or denies it, which fails the task like any failure.
    ``timeout`` applies ``on_timeout`` when the run is next resumed after the deadline.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    reason: str = ""
    """Why a human must look (shown in ``podium approvals``), e.g. "sends an email"."""
    timeout: timedelta | None = None
    on_timeout: Literal["approve", "deny"] = "deny"


class AtLeast(BaseModel):
    """Join that starts a task once ``at_least`` of its needs have succeeded."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    at_least: int = Field(ge=1)


Join = Literal["all", "any", "activated"] | AtLeast
"""When a task with ``needs`` starts: ``all`` succeeded; ``any`` one did; ``{at_least: n}`` n
did; ``activated``: every need that was not skipped (a route not taken, a false ``when``)
succeeded, once all of them are decided (an OR-join: merge exactly the branches chosen)."""


class WaitSpec(BaseModel):
    """Wait for the signal ``signal``; its data is the task's output.

    A signal is kept in the run's log: one sent before the task began to wait is taken too (a
    persistent trigger). Every task waiting on a name takes the first signal of that name; in
    iteration k of a loop, the k-th. While none has come, the task is *waiting*: its
    dependents do not start and, once nothing else can run, the run ends ``waiting`` until the
    signal is sent (which resumes it). ``timeout`` applies ``on_timeout`` at the deadline:
    ``fail`` the task, ``skip`` it, or ``succeed`` with no data. It applies on time while other
    tasks of its level still run, or when a server (``podium serve``) holds the store; else
    when the run is next resumed after the deadline.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    signal: str = Field(pattern=_ID_PATTERN)
    """The signal's name, declared in the workflow's ``signals``."""
    timeout: Duration | None = None
    on_timeout: Literal["fail", "skip", "succeed"] = "fail"


class RecurseSpec(BaseModel):
    """Run ``workflow`` again as a sub-workflow: the workflow the task is in, or one that
    encloses it (a cycle of sub-workflows). Each level has its own context namespace (its
    task ids are ``<id>/...``, nested once per level) and the run's budget covers them all.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    workflow: str
    """The name of the workflow to call: this task's own, or an enclosing one."""
    max_depth: int | None = Field(default=None, ge=1)
    """How many recursive calls may be nested (required: validation refuses unbounded
    recursion)."""
    on_limit: Literal["fail", "skip"] = "fail"
    """What a call beyond ``max_depth`` does: ``fail`` the task, or ``skip`` it (a base case)."""


class MapSpec(BaseModel):
    """Run ``task`` once per item of the list ``over`` (a context expression)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    over: str
    """Expression over the context giving a list, e.g. ``documents`` or ``plan.sections``."""
    item: str = Field(default="item", pattern=_ID_PATTERN)
    """Name the current item has in ``task``'s templates."""
    task: Task
    max_concurrency: int | None = Field(default=None, ge=1)
    until: str | None = None
    """Stop early once this holds: an expression over the context and ``results`` (the
    outputs of the items that succeeded so far, in item order); the items still running or
    waiting are cancelled (``task_cancelled``) and the map's output is ``results``."""
    at_least: int | None = Field(default=None, ge=1)
    """Stop early once this many items succeeded, cancelling the others."""


class LoopSpec(BaseModel):
    """Repeat a small graph of tasks until a condition holds, at most ``max_iterations`` times."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    tasks: tuple[Task, ...] = Field(min_length=1)
    until: str | None = None
    """Exit condition over the context, checked after each iteration (required)."""
    max_iterations: int | None = Field(default=None, ge=1)
    """Bound on iterations (required)."""
    best: str | None = None
    """Rank of an iteration, an expression over the context checked after each one (lower is
    better, e.g. ``[check.unsupported, -check.supported]``). When set, the loop ends with the
    keys its tasks write as they were after the best iteration (the latest of equals), not the
    last; ``loop_kept`` records which."""


class PlanSpec(BaseModel):
    """Plan ``goal`` into a graph of agent tasks with the ``planner`` agent, then run it.

    The planner answers with a plan (``podium.planner.Plan``) constrained to this team's
    agents. A plan with problems that are safe to fix (a cycle, a self-dependency, a dangling
    dependency) is repaired; one that is not is sent back with its problems, at most
    ``max_asks`` times. When a step fails after its retries and fallbacks, or a review step
    rejects the work, the planner revises the rest of the plan (steps that succeeded are kept,
    not redone), at most ``max_replans`` times. The task's output maps each step id to its
    output; each step also writes its own context key (its id).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    goal: str
    """What to achieve, a template over the context (e.g. ``"{{ goal }}"``)."""
    planner: str
    """The agent that plans (it is given the plan schema as its output schema)."""
    agents: tuple[str, ...] = ()
    """Agents the plan may give steps to; by default every agent of the team but the planner."""
    max_tasks: int = Field(default=8, ge=1, le=50)
    max_asks: int = Field(default=3, ge=1)
    """Plans asked for, per plan or revision, before the task fails."""
    max_replans: int = Field(default=2, ge=0)
    allows_step_approval: bool = True
    """Whether the planner may mark a step as needing a person's approval (for agents with
    side effects); when false such marks are dropped, as a repair."""
    approve_when: str | None = None
    """Condition over the context; when it holds, each plan waits for a human's approval
    (``podium approve RUN TASK [--edit FILE]``) before it runs."""
    docs: str | None = None
    """Expression over the context giving a directory of documents (Markdown, text, HTML,
    PDF); when set, each step is shown the passages that best match it and may cite them."""
    passages: int = Field(default=3, ge=0, le=20)
    """How many passages each step is shown (found with the goal and the step's subject)."""
    candidates: int = Field(default=6, ge=0, le=20)
    """How many passages are found for the goal itself: what the answer is drawn from."""
    plans_questions: bool = True
    """False: a goal that is a question ("Who...?", "What was...?") gets a one-step plan
    (the team's researcher answers it) without asking the planner."""
    steps: tuple[dict[str, JsonValue], ...] = ()
    """A plan given in advance (``podium run GOAL --plan-only`` prints one): its steps run as
    written, without asking the planner; re-planning after a failure still asks it."""
    execute: bool = True
    """False: make and record the plan, then stop; the task's output is the plan."""


class GroundingSpec(BaseModel):
    """Ground an agent task's answer in retrieved passages (``podium.synthesis``).

    On a small model (``choose: auto`` and the embedded local model, or ``choose: always``)
    the agent does not write its claims: it is shown the sentences of the passages that best
    match ``question``, numbered, and picks some under a decoding grammar, so each claim is
    a sentence of a passage it was shown, citing that passage. When no sentence matches the
    question the answer says so without a model call. A larger model writes its own claims
    (at most ``max_claims``), and the verifier decides whether the passages support them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    question: str
    """What the answer answers, a template over the context (e.g. ``"{{ goal }}"``)."""
    sources: str = "sources"
    """The context key holding the passages by id (what a plan's retrieval writes)."""
    max_claims: int = Field(default=4, ge=1, le=12)
    choose: Literal["auto", "always", "never"] = "auto"
    """Whether claims are chosen sentences (``always``), written (``never``), or chosen on
    the embedded local model only (``auto``)."""


class Task(BaseModel):
    """One node of a workflow graph."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: TaskId = Field(pattern=_ID_PATTERN)
    agent: str | None = None
    capability: str | None = None
    """Instead of ``agent``: the router picks an agent with this capability (``podium.router``)."""
    instruction: str = ""
    """What to do, a Jinja template over the context."""
    needs: tuple[TaskId, ...] = ()
    join: Join = "all"
    cancel_rest: bool = False
    """With ``join: any`` or ``{at_least: n}``: once the join is met, cancel the tasks still
    running that only feed this task's other needs (``task_cancelled``): stop paying for the
    losers of a race."""
    end: bool = False
    """When this task succeeds its workflow is complete: the tasks still running are
    cancelled and the ones not started are skipped (for the top workflow: the run ends)."""
    cancels: tuple[TaskId, ...] = ()
    """Tasks of the same level this task cancels when it succeeds: running ones (a
    sub-workflow, a loop, a map: as a unit, with everything inside) are cancelled, ones not
    started yet will not run. With ``when`` or a router's ``routes`` this is a cancel region
    that does not fail the run."""
    lock: str | None = Field(default=None, pattern=_ID_PATTERN)
    """A critical section: tasks naming the same lock never run at the same time, anywhere
    in the run (sub-workflows included)."""
    when: str | None = None
    """Condition over the context; when false the task is skipped."""
    output: str | None = None
    """Context key the result is written to; defaults to the task id."""
    routes: tuple[TaskId, ...] = ()
    map: MapSpec | None = None
    loop: LoopSpec | None = None
    workflow: Workflow | None = None
    plan: PlanSpec | None = None
    wait: WaitSpec | None = None
    recurse: RecurseSpec | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    """For a sub-workflow (or a recursive call): its input name -> template over this context."""
    timeout: timedelta = timedelta(minutes=10)
    approval: Approval | bool | None = None
    """Whether a human must approve this task's output (``true`` or an ``Approval``)."""
    budget: Budget | None = None
    """Limits on one instance of this task (a loop iteration, a map item), children included."""
    verifies: str | None = None
    """Context key of a draft this agent task checks: its answer must be a
    ``podium.verifier.Verification``; each claim's verdict becomes a ``claim_verified`` event."""
    grounding: GroundingSpec | None = None
    """For an agent task that answers with claims: ground them in retrieved passages."""

    @model_validator(mode="after")
    def _one_kind(self) -> Task:
        if self.agent is not None and self.capability is not None:
            raise ValueError("a task names an agent or a capability, not both")
        composites = ("map", "loop", "workflow", "plan", "wait", "recurse")
        kinds = [k for k in composites if getattr(self, k) is not None]
        if self.agent is not None or self.capability is not None:
            kinds.insert(0, "agent")
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            kinds_named = "agent, map, loop, workflow, recurse, plan or wait"
            msg = f"a task has exactly one of {kinds_named} (found: {found})"
            raise ValueError(msg)
        if self.routes and self.agent is None and self.capability is None:
            raise ValueError("only an agent task can choose routes")
        if self.inputs and self.workflow is None and self.recurse is None:
            raise ValueError("inputs are given to sub-workflows only; use the context instead")
        if self.verifies is not None and self.agent is None and self.capability is None:
            raise ValueError("only an agent task can verify a draft")
        if self.grounding is not None and self.agent is None and self.capability is None:
            raise ValueError("only an agent task can ground its answer")
        if self.cancel_rest and (self.join in ("all", "activated") or not self.needs):
            raise ValueError("cancel_rest needs join: any or {at_least: n} over some needs")
        return self

    @property
    def kind(self) -> TaskKind:
        """Which of the six kinds this task is (a ``capability`` task is an agent task, a
        recursive call a sub-workflow)."""
        if self.map is not None:
            return "map"
        if self.loop is not None:
            return "loop"
        if self.workflow is not None or self.recurse is not None:
            return "workflow"
        if self.plan is not None:
            return "plan"
        if self.wait is not None:
            return "wait"
        return "agent"

    @property
    def output_key(self) -> str:
        """The context key this task writes."""
        return self.output or self.id
