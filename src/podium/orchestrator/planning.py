"""Plan tasks: a planner agent turns a goal into a graph of agent tasks, which then runs.

1. **Plan.** The planner is asked for a plan (``podium.planner``) whose schema only admits
   the team's agents and capabilities, as an ordinary agent task (``<plan>/planner``): its
   call is journaled, retried, rerouted and, when ``approve_when`` holds, held for a human's
   approval like any other. The answer is checked: what is safe to repair is repaired
   (``plan_repaired``), otherwise the planner is asked again with the problems
   (``plan_rejected``; ``<plan>/planner-2``...), at most ``max_asks`` times. The accepted plan
   is ``plan_created``.
2. **Retrieve.** With ``docs``, each step is shown the passages of the knowledge base that
   best match it (``sources_retrieved``); they are also written to the context key
   ``sources``, where synthesis and verification find them.
3. **Run.** The steps run as a graph (``<plan>/<step>``, iteration = plan revision).
4. **Re-plan.** When a step fails after its retries and fallbacks, or a review step rejects
   the work (``{"approved": false, ...}``), the planner revises the rest of the plan given
   what is done; completed steps are kept, not redone. At most ``max_replans`` times.

A resumed run reuses the plans and retrievals its log recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from pydantic import JsonValue, ValidationError

from podium.engine.composite import graph_nodes, raise_if_waiting
from podium.engine.frame import Frame
from podium.engine.host import NodeHost
from podium.engine.outcome import Outcome
from podium.errors import ApprovalRequired, TaskError, validation_problems
from podium.event import (
    ApprovalDenied,
    ApprovalGranted,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    TaskFailed,
)
from podium.ids import TaskId
from podium.orchestrator.retrieval import SOURCES_KEY, Retrieval
from podium.plan_prompt import (
    plan_prompt,
    question_plan,
    reask_prompt,
    replan_prompt,
    step_query,
)
from podium.planner import Plan, PlanCheck, Roster, check_plan, plan_tasks
from podium.sentences import is_question
from podium.task import PlanSpec, Task
from podium.template import literal
from podium.untrusted import fence
from podium.workflow.model import walk

__all__ = ["run_plan"]

_E = TypeVar(
    "_E", ApprovalDenied, ApprovalGranted, PlanCreated, PlanRejected, PlanRepaired, TaskFailed
)

_SHOWN_CHARS = 2400
"""How much passage text a step's prompt shows (whole passages, the best first)."""


@dataclass(slots=True, kw_only=True)
class _Planning:
    """One plan task's state while it runs."""

    run: NodeHost
    task: Task
    spec: PlanSpec
    frame: Frame
    qid: TaskId
    goal: str
    roster: Roster
    retrieval: Retrieval
    done: dict[str, JsonValue] = field(default_factory=dict[str, JsonValue])
    """Output of every step that succeeded, by step id."""

    def schema(self) -> type[Plan]:
        """The plan schema for this team (agents and capabilities as enums)."""
        return self.roster.schema(max_tasks=self.spec.max_tasks)

    def check(self, plan: Plan) -> PlanCheck:
        """``plan`` checked against the team, what is done and the keys already in use."""
        return check_plan(
            plan,
            agents=self.roster.names,
            capabilities=self.roster.capabilities,
            max_tasks=self.spec.max_tasks,
            done=self.done.keys(),
            reserved=self.reserved,
            allows_approval=self.spec.allows_step_approval,
        )

    @property
    def reserved(self) -> frozenset[str]:
        """Context keys the workflow already uses: plan steps may not take them."""
        workflow = self.frame.workflow
        keys = {t.output_key for _, t in walk(workflow.tasks)}
        return frozenset({*keys, *workflow.inputs, *workflow.context, SOURCES_KEY, "context"})


async def run_plan(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> JsonValue:
    """Plan the goal, run the plan, re-plan on failure; return each step's output by id.

    Raises:
        TaskError: no usable plan, or steps still fail after ``max_replans`` revisions.
        ApprovalRequired: a plan or a step waits for a human.
    """
    spec = task.plan
    assert spec is not None
    planning = _Planning(
        run=run,
        task=task,
        spec=spec,
        frame=frame,
        qid=qid,
        goal=frame.render(spec.goal),
        roster=Roster.of(spec, frame.workflow.agents),
        retrieval=Retrieval(
            run, _docs(spec, frame), limit=spec.passages, goal_limit=spec.candidates
        ),
    )
    try:
        return await _execute(planning)
    finally:
        planning.retrieval.close()


def _docs(spec: PlanSpec, frame: Frame) -> str | None:
    directory = frame.evaluate(spec.docs) if spec.docs else None
    return str(directory) if directory else None


async def _execute(planning: _Planning) -> JsonValue:
    revision = 1
    latest = _latest_recorded_plan(planning)
    if latest is not None:  # a resumed run goes on with its last plan
        plan, revision = Plan.model_validate(latest.plan), latest.revision
        prefix = f"{planning.qid}/"
        for kept in latest.kept:
            step = kept.removeprefix(prefix)
            planning.done[step] = planning.frame.context.get(step)
    elif planning.spec.steps:
        plan = await _given_plan(planning)
    elif not planning.spec.plans_questions and is_question(planning.goal):
        written = question_plan(planning.goal, planning.roster.agents)
        plan = await _given_plan(planning, written, reason="a question: one step, not planned")
    else:
        prompt = plan_prompt(
            planning.goal,
            planning.roster.agents,
            max_tasks=planning.spec.max_tasks,
            documents=await planning.retrieval.titles(),
        )
        plan = await _plan(planning, revision=1, prompt=prompt, reason=f"goal: {planning.goal}")
    if not planning.spec.execute:
        return plan.model_dump(mode="json")
    while True:
        failed, rejected = await _run_steps(planning, plan, revision)
        if not failed and not rejected:
            return dict(planning.done)
        if revision > planning.spec.max_replans:
            raise TaskError(_unfinished(failed, rejected, revision), task_id=planning.qid)
        revision += 1
        prompt = replan_prompt(
            planning.goal,
            planning.roster.agents,
            previous=plan,
            done={k: str(v) for k, v in planning.done.items()},  # the prompt shortens them
            failed=failed,
            rejected=rejected,
            max_tasks=planning.spec.max_tasks,
        )
        reason = _unfinished(failed, rejected, revision - 1)
        plan = await _plan(planning, revision=revision, prompt=prompt, reason=reason)


async def _run_steps(
    planning: _Planning, plan: Plan, revision: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Run one plan's steps; return the failed ones and the rejecting reviews, with reasons."""
    tasks = plan_tasks(plan, done=planning.done.keys())
    found = await _sources(planning, plan, tasks) if planning.retrieval.is_on else {}
    tasks = tuple(_decorated(t, planning.goal, found.get(t.id, [])) for t in tasks)
    child = planning.frame.child(prefix=f"{planning.qid}/", iteration=revision)
    outcomes = await planning.run.run_graph(tasks, child)
    raise_if_waiting(outcomes.values())
    failed: dict[str, str] = {}
    rejected: dict[str, str] = {}
    for step_id, outcome in outcomes.items():
        if outcome.status == "failed":
            failed[step_id] = outcome.reason or "failed"
        elif outcome.ok:
            feedback = _rejection(outcome)
            if feedback is None:
                planning.done[step_id] = outcome.output
            else:
                rejected[step_id] = feedback
    return failed, rejected


async def _plan(planning: _Planning, *, revision: int, prompt: str, reason: str) -> Plan:
    """Ask for a plan (revision ``revision``) until one can run; record it."""
    model = planning.schema()
    problems: tuple[str, ...] = ()
    for ask in range(1, planning.spec.max_asks + 1):
        rejected = _recorded_rejection(planning, revision, ask)
        if rejected is not None:  # a resumed run: that ask was answered and turned down
            problems = rejected.problems
            continue
        asked = reask_prompt(prompt, problems) if problems else prompt
        answer = await _ask_planner(planning, model, asked, revision=revision, ask=ask)
        plan, problems = None, answer.problems
        if not problems:
            plan, problems = await _check(planning, model, answer.output, revision)
        if plan is not None:
            await _created(planning, plan, revision=revision, reason=reason)
            return plan
        if answer.is_edited:  # the planner is told, and the person sees it in the next ask
            problems = tuple(f"the plan as a person edited it: {p}" for p in problems)
        rejected = partial(
            PlanRejected, task_id=planning.qid, revision=revision, ask=ask, problems=problems
        )
        await planning.run.recorder.emit(rejected)
    message = f"no usable plan after {planning.spec.max_asks} asks: " + "; ".join(problems)
    raise TaskError(message, task_id=planning.qid)


async def _check(
    planning: _Planning, model: type[Plan], output: JsonValue, revision: int
) -> tuple[Plan | None, tuple[str, ...]]:
    """The plan ``output`` holds, repaired (None when it cannot run), and what is wrong.

    Repairs are recorded (once: a resumed run may check the same answer again).
    """
    try:
        plan: Plan = model.model_validate(output)
    except ValidationError as exc:  # an edited plan, approved by a person, may not parse
        return None, validation_problems(exc)
    check = planning.check(plan)
    logged = ((e.revision, e.repairs) for e in _logged(planning, PlanRepaired))
    if check.repairs and (revision, check.repairs) not in logged:  # once, even when resumed
        repaired = partial(
            PlanRepaired, task_id=planning.qid, revision=revision, repairs=check.repairs
        )
        await planning.run.recorder.emit(repaired)
    return (check.plan if check.is_ok else None), check.problems


async def _given_plan(
    planning: _Planning,
    written: JsonValue = None,
    *,
    reason: str = "the plan written in the workflow",
) -> Plan:
    """A plan not asked of the planner (by default the workflow's), checked and repaired
    like a planner's."""
    written = written or {"steps": list(planning.spec.steps)}
    plan, problems = await _check(planning, planning.schema(), written, revision=1)
    if plan is None:
        message = f"{reason} is invalid: " + "; ".join(problems)
        raise TaskError(message, task_id=planning.qid)
    await _created(planning, plan, revision=1, reason=reason)
    return plan


async def _ask_planner(
    planning: _Planning, model: type[Plan], prompt: str, *, revision: int, ask: int
) -> _Answer:
    """The planner's answer, as an agent task of its own (journaled, approvable)."""
    spec = planning.spec
    planner = planning.frame.workflow.agent(spec.planner)
    assert planner is not None, "validation checks the planner exists"
    workflow = planning.frame.workflow.model_copy(
        update={"agents": (planner.model_copy(update={"output_schema": model}),)}
    )
    needs_approval = spec.approve_when is not None and bool(
        planning.frame.evaluate(spec.approve_when)
    )
    ask_task = Task(
        id=TaskId("planner" if ask == 1 else f"planner-{ask}"),
        agent=spec.planner,
        instruction=literal(prompt),
        approval=True if needs_approval else None,
        timeout=planning.task.timeout,
    )
    frame = planning.frame.child(
        workflow=workflow, prefix=f"{planning.qid}/", iteration=revision, writes_output=False
    )
    outcome = await planning.run.run_node(ask_task, frame)
    qid = frame.qualify(ask_task.id)
    if outcome.status == "waiting":
        raise ApprovalRequired("the plan waits for approval")
    if outcome.ok:
        return _Answer(output=outcome.output, is_edited=_is_edited(planning, qid, revision))
    failure = _failure(planning, qid, revision)
    if isinstance(failure, ApprovalDenied):  # turned down: plan again, with the reason
        return _Answer(problems=(f"a person turned this plan down: {failure.reason}",))
    if failure is not None and failure.error_type == "OutputValidationError":
        return _Answer(problems=(f"the answer was not a valid plan: {failure.message}",))
    raise TaskError(f"the planner failed: {outcome.reason}", task_id=planning.qid)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    """What one ask of the planner gave: a plan to check, or problems to ask again with."""

    output: JsonValue = None
    problems: tuple[str, ...] = ()
    is_edited: bool = False
    """A person approved the plan with edits (its problems are reported as theirs)."""


def _is_edited(planning: _Planning, qid: TaskId, revision: int) -> bool:
    granted = _logged(planning, ApprovalGranted, qid)
    return any(e.iteration == revision and e.is_edited for e in granted)


def _failure(planning: _Planning, qid: TaskId, revision: int) -> ApprovalDenied | TaskFailed | None:
    """Why an ask of the planner failed: a person's denial, else its last recorded failure."""
    denials = [e for e in _logged(planning, ApprovalDenied, qid) if e.iteration == revision]
    failures = [e for e in _logged(planning, TaskFailed, qid) if e.iteration == revision]
    return next(iter(denials), None) or next(reversed(failures), None)


async def _created(planning: _Planning, plan: Plan, *, revision: int, reason: str) -> None:
    tasks = plan_tasks(plan, done=planning.done.keys())
    steps = graph_nodes(tasks, prefix=f"{planning.qid}/", parent=planning.qid)
    created = partial(
        PlanCreated,
        task_id=planning.qid,
        revision=revision,
        steps=steps,
        plan=plan.model_dump(mode="json"),
        reason=reason,
        kept=tuple(TaskId(f"{planning.qid}/{k}") for k in planning.done),
    )
    await planning.run.recorder.emit(created)


def _logged(planning: _Planning, kind: type[_E], task_id: TaskId | None = None) -> list[_E]:
    """The events of ``kind`` this run's log holds for ``task_id`` (by default the plan task);
    a resumed run's log includes what the executions before it recorded."""
    wanted = task_id or planning.qid
    events = planning.run.recorder.events
    return [e for e in events if isinstance(e, kind) and e.task_id == wanted]


def _recorded_rejection(planning: _Planning, revision: int, ask: int) -> PlanRejected | None:
    rejections = _logged(planning, PlanRejected)
    return next((e for e in rejections if (e.revision, e.ask) == (revision, ask)), None)


def _latest_recorded_plan(planning: _Planning) -> PlanCreated | None:
    """The last plan the log recorded for this task (a resumed run), if any."""
    return max(_logged(planning, PlanCreated), key=lambda e: e.revision, default=None)


async def _sources(
    planning: _Planning, plan: Plan, tasks: tuple[Task, ...]
) -> dict[str, list[dict[str, JsonValue]]]:
    """The passages that best match each step, asked with the goal and the step's subject
    words (``podium.retrieval_query``); the goal's own best passages are retrieved too, for
    the answer. Every passage lands once in ``sources``."""
    steps = {s.id: s for s in plan.steps}
    queries = {TaskId(planning.qid): planning.goal}
    queries |= {
        TaskId(f"{planning.qid}/{t.id}"): step_query(planning.goal, steps[t.id].instruction)
        for t in tasks
    }
    found = await planning.retrieval.for_steps(planning.frame.context, queries, by=planning.qid)
    return {step.rsplit("/", 1)[-1]: passages for step, passages in found.items()}


def _decorated(task: Task, goal: str, passages: list[dict[str, JsonValue]]) -> Task:
    """A step's task that also shows the goal and the whole passages that match it (as many
    as fit ``_SHOWN_CHARS``)."""
    text = f"\n\nThe team's goal: {goal}"
    lines: list[str] = []
    room = _SHOWN_CHARS
    for p in passages:
        text_of = f"{p['title']}: {' '.join(str(p['text']).split())}"
        line = f"[{p['id']}] " + fence(text_of, origin=f"document {p['id']}")
        if len(line) > room and lines:
            break
        lines.append(line)
        room -= len(line)
    if lines:
        text += "\n\nSources (cite them by their [id]):\n" + "\n".join(lines)
    return task.model_copy(update={"instruction": task.instruction + literal(text)})


def _rejection(outcome: Outcome) -> str | None:
    """The feedback of a review step that rejected the work, or None."""
    output = outcome.output
    if isinstance(output, Mapping) and output.get("approved") is False:
        return str(output.get("feedback") or output.get("reason") or "rejected by the reviewer")
    return None


def _unfinished(failed: Mapping[str, str], rejected: Mapping[str, str], revision: int) -> str:
    parts = [f"{k} failed: {v}" for k, v in failed.items()]
    parts += [f"{k} rejected the work: {v}" for k, v in rejected.items()]
    return f"plan {revision}: " + "; ".join(parts)
