"""Composite tasks: dynamic map, bounded loop and sub-workflow, run through the scheduler.

- **map**: evaluates ``over`` to a list, runs one copy of its task per item in parallel (each
  sees the item under ``map.item``), and writes the outputs, in item order, to its key;
- **loop**: runs its tasks as a graph, evaluates ``until`` after each iteration, and stops when
  it holds or after ``max_iterations``; its output is the last body task's output. With
  ``best``, it ends with the best iteration's results instead of the last's: the keys its
  tasks wrote are written back as they were then (``loop_iterated.kept``);
- **sub-workflow**: runs another workflow in its own context namespace (``<task id>/``) with
  inputs rendered from this context, and writes that workflow's output to its key;
- **recursive call** (``recurse``): the same for the task's own workflow or an enclosing one
  (``Frame.caller``), one level deeper (``Frame.depth``), up to ``max_depth``;
- **wait**: waits for a named signal (``engine.wait``);
- **plan**: plans a goal into agent tasks and runs them (a node kind registered from
  outside the engine: ``engine.kinds``, ``podium.orchestrator``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

from pydantic import JsonValue

from podium.engine.frame import Frame
from podium.engine.host import NodeHost
from podium.engine.inputs import resolve_inputs
from podium.engine.map_task import emit_cancelled, emit_interrupted, raise_if_waiting, run_map
from podium.engine.scheduler import Outcome
from podium.engine.wait import run_wait
from podium.errors import TaskError
from podium.event import GraphNode, LoopIterated, TaskSkipped, recorded_write
from podium.ids import TaskId
from podium.task import LoopSpec, Task
from podium.template import Templates
from podium.workflow.model import Workflow

__all__ = [
    "graph_nodes",
    "raise_if_waiting",
    "record_cancelled",
    "record_interrupted",
    "run_composite",
]

_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(.+)\}\}\s*$", re.DOTALL)


async def run_composite(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
    """Run a map, loop, sub-workflow, recursive call, plan or wait task.

    Raises:
        TaskError: the map's list could not be computed, a child failed, or a recursive
            call went deeper than its ``max_depth`` allows.
        ApprovalRequired: a task inside waits for approval, or a wait task for its signal.
    """
    if task.wait is not None:
        return await run_wait(run, task, frame, qid)
    if task.recurse is not None and frame.depth >= (task.recurse.max_depth or 0):
        return await _beyond_depth(run, task, frame, qid)
    if task.map is not None:
        output = await run_map(run, task, frame, qid)
    elif task.loop is not None:
        output = await _run_loop(run, task, frame, qid)
    elif task.plan is not None:
        output = await run.plan(task, frame, qid)
    else:
        output = await _run_workflow(run, task, frame, qid, _called(task, frame))
    return await run.succeed(
        task, frame, qid, Outcome(status="succeeded", output=output), writer=None
    )


async def _run_loop(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> JsonValue:
    assert task.loop is not None
    spec = task.loop
    bound = spec.max_iterations or 1
    last = spec.tasks[-1].id
    outputs: dict[int, JsonValue] = {0: None}
    iteration = 0
    # Inside another loop's iteration k, this loop is instance ``qid#k``: its iterations and
    # its children's ids then name the whole iteration path, so the journal of a resumed
    # run tells the inner iterations of outer iteration 1 from those of outer iteration 2.
    instance = TaskId(f"{qid}#{frame.iteration}") if frame.iteration else qid
    for iteration in range(1, bound + 1):
        body = frame.child(prefix=f"{instance}/", iteration=iteration)
        outcomes = await run.run_graph(spec.tasks, body)
        raise_if_waiting(outcomes.values())
        broken = [tid for tid, o in outcomes.items() if o.status == "failed"]
        if broken:
            raise TaskError(f"iteration {iteration}: {', '.join(broken)} failed", task_id=qid)
        outputs[iteration] = outcomes[last].output if last in outcomes else outputs[iteration - 1]
        decision = await _decide(run, spec, frame, instance, iteration)
        if decision.kept is not None:
            await _restore(run, spec, frame, instance, _iterated(run, instance)[decision.kept].seq)
            return outputs[decision.kept]
        if decision.is_done:
            break
    return outputs[iteration]


async def _decide(
    run: NodeHost, spec: LoopSpec, frame: Frame, qid: TaskId, iteration: int
) -> LoopIterated:
    """Decide (and record) whether the loop stops after ``iteration``, and, when it does and
    has ``best``, which iteration it keeps (the lowest rank, the latest of equals).

    A resumed run reuses the decision its log recorded: the context may hold later values.

    Raises:
        TaskError: ``best`` gave ranks that cannot be compared.
    """
    recorded = run.journal.loop_decision(qid, iteration) if run.journal else None
    if recorded is not None:
        return recorded
    bound = spec.max_iterations or 1
    is_done = bool(frame.evaluate(spec.until or "true"))
    reason = f"{spec.until} is {'true' if is_done else 'false'}"
    if not is_done and iteration == bound:
        reason += f"; stopping at max_iterations={bound}"
    rank = _json(frame.evaluate(spec.best)) if spec.best else None
    kept = None
    if spec.best and (is_done or iteration == bound):
        ranks = {i: e.rank for i, e in _iterated(run, qid).items() if i < iteration}
        ranks[iteration] = rank
        try:
            kept = min(ranks, key=lambda i: (ranks[i], -i))
        except TypeError as exc:
            msg = f"the ranks {list(ranks.values())} of best {spec.best!r} cannot be compared"
            raise TaskError(msg, task_id=qid) from exc
        if kept != iteration:
            reason += f"; iteration {kept} ranks best by {spec.best}"
    return await run.recorder.emit(
        partial(
            LoopIterated,
            task_id=qid,
            iteration=iteration,
            is_done=is_done or kept is not None,
            reason=reason,
            rank=rank,
            kept=kept,
        )
    )


def _iterated(run: NodeHost, qid: TaskId) -> dict[int, LoopIterated]:
    """The loop's recorded decisions by iteration (the latest of each)."""
    events = run.recorder.events
    return {e.iteration: e for e in events if isinstance(e, LoopIterated) and e.task_id == qid}


async def _restore(run: NodeHost, spec: LoopSpec, frame: Frame, qid: TaskId, seq: int) -> None:
    """Write the loop's keys back to the values they held when event ``seq`` was recorded
    (those that changed since; nothing when it was the last iteration)."""
    keys = {frame.context.namespace + t.output_key: t.output_key for t in spec.tasks}
    then: dict[str, JsonValue] = {}
    for event in run.recorder.events:
        if event.seq >= seq:
            break
        written = recorded_write(event)
        if written is not None and written.key in keys:
            then[keys[written.key]] = written.value
    for key, value in then.items():
        if frame.context.get(key) != value:
            await run.recorder.write(frame.context, key, value, task_id=qid, writer=None)


def _json(value: Any) -> JsonValue:  # Any: what an expression computes
    if isinstance(value, tuple | list):
        items = cast("Sequence[Any]", value)  # Any: what an expression computes
        return [_json(v) for v in items]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _called(task: Task, frame: Frame) -> Workflow:
    """The workflow a sub-workflow or recursive-call task runs."""
    if task.workflow is not None:
        return task.workflow
    assert task.recurse is not None
    called = frame.caller(task.recurse.workflow)
    if called is None:  # pragma: no cover - validation guarantees it
        raise TaskError(f"no enclosing workflow {task.recurse.workflow!r}", task_id=task.id)
    return called


async def _beyond_depth(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
    """A recursive call nested ``max_depth`` deep already: fail it, or skip it (a base case)."""
    assert task.recurse is not None
    spec = task.recurse
    reason = f"recursion into {spec.workflow!r} is {frame.depth} deep: max_depth {spec.max_depth}"
    if spec.on_limit == "fail":
        return await run.fail(qid, None, TaskError(reason, task_id=qid), frame)
    skipped = partial(TaskSkipped, task_id=qid, reason=reason, iteration=frame.iteration)
    await run.recorder.emit(skipped)
    return Outcome(status="skipped", reason=reason)


async def _run_workflow(
    run: NodeHost, task: Task, frame: Frame, qid: TaskId, sub: Workflow
) -> JsonValue:
    templates = frame.workflow.templates
    names = frozenset[str]().union(*(templates.variables(v) for v in task.inputs.values()))
    values = frame.values(names)
    given = {name: _input_value(templates, source, values) for name, source in task.inputs.items()}
    inputs = resolve_inputs(sub, given)
    context = run.context(f"{qid}/", sub)
    for name, value in inputs.items():
        if name not in context or context.get(name) != value:  # a resumed run may have them
            await run.recorder.write(context, name, value, task_id=qid, writer=None)
    slots = frame.slots
    if sub.max_concurrency is not None:  # its own limit, inside its parent's
        slots = (*slots, asyncio.Semaphore(sub.max_concurrency))
    child = Frame(
        workflow=sub,
        context=context,
        prefix=f"{qid}/",
        iteration=frame.iteration,
        slots=slots,
        locks=frame.locks,
        enclosing=(*frame.enclosing, frame.workflow),
        depth=frame.depth + (task.recurse is not None),
    )
    outcomes = await run.run_graph(sub.tasks, child)
    raise_if_waiting(outcomes.values())
    broken = [tid for tid, o in outcomes.items() if o.status == "failed"]
    if broken:
        raise TaskError(f"sub-workflow {sub.name!r}: {', '.join(broken)} failed", task_id=qid)
    return context.get(sub.output_key)


async def record_cancelled(run: NodeHost, frame: Frame, task: Task, reason: str) -> None:
    """Record that a task of ``frame`` was cancelled (``task_cancelled``)."""
    await emit_cancelled(run, frame.qualify(task.id), frame.iteration, reason)


async def record_interrupted(run: NodeHost, frame: Frame, task: Task) -> None:
    """Record that the run's stop cut a task of ``frame`` off (a resume runs it again)."""
    await emit_interrupted(run, frame.qualify(task.id), frame.iteration)


def _input_value(
    templates: Templates,
    source: str,
    values: dict[str, Any],  # Any: template values
) -> JsonValue:
    """A template that is one ``{{ expression }}`` keeps its value's type; others render text."""
    match = _WHOLE_EXPRESSION.match(source)
    if match and "{{" not in match.group(1):
        value = templates.evaluate(match.group(1), values)
        if isinstance(value, str | int | float | bool | list | dict):
            return cast("JsonValue", value)
        return str(value)
    return templates.render(source, values)


def graph_nodes(
    tasks: tuple[Task, ...], prefix: str = "", parent: TaskId | None = None
) -> tuple[GraphNode, ...]:
    """The graph as recorded in ``run_started``: every task, nested ones under their parent."""
    nodes: list[GraphNode] = []
    for task in tasks:
        qid = TaskId(prefix + task.id)
        nodes.append(
            GraphNode(
                id=qid,
                kind=task.kind,
                agent=task.agent,
                needs=tuple(TaskId(prefix + n) for n in task.needs),
                output=task.output_key,
                parent=parent,
            )
        )
        nodes.extend(_children(task, qid))
    return tuple(nodes)


def _children(task: Task, qid: TaskId) -> tuple[GraphNode, ...]:
    if task.loop is not None:
        return graph_nodes(task.loop.tasks, f"{qid}/", qid)
    if task.workflow is not None:
        return graph_nodes(task.workflow.tasks, f"{qid}/", qid)
    return ()
