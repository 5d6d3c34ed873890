"""The entry points: ``run()`` and ``await arun()`` a workflow (an object or a YAML file), or
a goal in plain words on a team (``podium.team``); ``await resume()`` and ``await replay()`` a
recorded run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import JsonValue

from podium.agent import Agent
from podium.budget import Budget
from podium.clock import Clock
from podium.engine.local import LocalEngine
from podium.errors import ConfigError, RunStateError
from podium.event import Event, RunStarted
from podium.history import resolve_run_id
from podium.ids import IdFactory, RunId, TaskId
from podium.liveness import temporal_ref
from podium.models.base import Model
from podium.orchestrator import KINDS
from podium.run import RunResult
from podium.stores.argument import StoreArg, opened_store
from podium.stores.base import Store
from podium.task import Task
from podium.team import check_team, find_team, goal_inputs
from podium.telemetry.tracing import tracer_subscriber
from podium.toolserver import serving_tools
from podium.workflow.model import InputSpec, Workflow

__all__ = ["agent_workflow", "arun", "replay", "resume_here", "run"]

_AGENT_TASK = TaskId("answer")


async def arun(
    workflow: Workflow | Agent | str | Path | None = None,
    inputs: Mapping[str, JsonValue] | str | None = None,
    *,
    goal: str | None = None,
    docs: str | Path | None = None,
    approve_plan: bool = False,
    budget: Budget | None = None,
    model: str | Model | None = None,
    store: StoreArg = None,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_token: Callable[[TaskId, str], None] | None = None,
    max_concurrency: int | None = None,
) -> RunResult:
    """Run a workflow, a goal on a team, or one agent to the end and return the result.

    ``arun(agent, "prompt")`` runs one agent (with its tools) as a one-task workflow whose
    output is the agent's answer; ``arun(workflow, {...})`` runs a workflow with its inputs;
    ``arun(goal="...")`` plans a goal on a team.

    Args:
        workflow: a ``Workflow``, the path of a workflow YAML file, or an ``Agent``; with
            ``goal``, the team to run it on (by default ``podium.yaml`` here, else podium's
            default team).
        inputs: the workflow's inputs (defaults fill the rest); for an agent, the prompt.
        goal: a goal in plain words: the team plans it into tasks, runs them and answers
            with citations (``podium.team``).
        docs: with ``goal``, a directory of documents the team retrieves from and cites.
        approve_plan: with ``goal``, each plan waits for a person's approval before it runs.
        budget: limits for this run on top of the workflow's own (the lower of each wins);
            recorded, and kept when the run is resumed.
        model: a model or model name replacing every agent's model for this run
            (``"scripted"`` runs offline with canned answers).
        store: where the run is recorded: a ``Store``, a SQLite file path, or None for
            the default file, ``default_store_path()`` (opened once per process and kept
            open until it exits: a run neither opens nor closes it).
        clock: time source; ``ManualClock`` in tests.
        ids: run id factory.
        on_event: called with each event as it is recorded (it is durable once the engine
            acts on it; see ``podium.engine.recorder``).
        on_token: called with ``(task id, text)`` as models stream their answers.
        max_concurrency: at most this many agent tasks at once (default: the workflow's, else
            no limit).

    Returns:
        The result: status, final output, per-task states, the context and the events.

    Raises:
        ConfigError: the workflow file is malformed, invalid, or an input is wrong.
    """
    if goal is not None:
        if isinstance(workflow, Agent) or isinstance(inputs, str):
            raise ConfigError("a goal runs on a team (a workflow): give no agent or prompt")
        workflow, source = _load(workflow if workflow is not None else find_team())
        check_team(workflow, Path(source) if source else None)
        given = goal_inputs(workflow, goal, docs=docs, approve_plan=approve_plan)
        inputs = {**(inputs or {}), **given}
    elif workflow is None:
        raise ConfigError("nothing to run: give a workflow, an agent, or a goal (goal=...)")
    else:
        workflow, inputs = _with_prompt(workflow, inputs)
        workflow, source = _load(workflow)
    async with opened_store(store) as opened, serving_tools(workflow) as workflow:
        engine = LocalEngine(
            kinds=KINDS,
            store=opened,
            clock=clock,
            ids=ids,
            model=model,
            max_concurrency=max_concurrency,
            subscribers=_subscribers(on_event),
            token_listener=on_token,
        )
        return await engine.execute(workflow, inputs, source=source, goal=goal, budget=budget)


async def resume_here(
    run_id: RunId,
    workflow: Workflow | str | Path | None = None,
    *,
    store: StoreArg = None,
    budget: Budget | None = None,
    clock: Clock | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_token: Callable[[TaskId, str], None] | None = None,
) -> RunResult:
    """Continue a run of one process from its log, in this process (``podium.resume``
    chooses this for a run that is not on Temporal; its arguments are described there).

    Raises:
        ConfigError: no such run, it already succeeded, or its workflow file is gone.
        RunStateError: a live process is executing it, or it is on Temporal (its workflow
            executes it: ``podium.resume`` starts that again).
    """
    async with opened_store(store) as opened:
        await _refuse_temporal(opened, run_id)
        engine, flow = await _engine_for(opened, run_id, workflow, on_event, on_token, clock=clock)
        async with serving_tools(flow) as flow:
            return await engine.resume(flow, run_id, budget=budget)


async def replay(
    run_id: str,
    workflow: Workflow | str | Path | None = None,
    *,
    store: StoreArg = None,
    on_event: Callable[[Event], None] | None = None,
    on_token: Callable[[TaskId, str], None] | None = None,
) -> RunResult:
    """Execute a recorded run again as a new run fed only from its log.

    No model or tool is called: every answer comes from the recorded run, so a changed
    workflow or prompt can be debugged against a real past run. A call the log does not hold
    fails its task and says where the new run diverged. The replay runs under the limits its
    run last had.

    Args:
        run_id: the recorded run's id, or enough of its first characters to name one run.
        workflow: the workflow (object or file); by default the file the run was started
            from, loaded again.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.
        on_event: called with each event of the new run as it is recorded.
        on_token: called with ``(task id, text)`` as replayed answers stream.

    Returns:
        The new run's result.

    Raises:
        ConfigError: no such run, or its workflow file is gone.
    """
    async with opened_store(store) as opened:
        resolved = await resolve_run_id(opened, run_id)
        engine, flow = await _engine_for(opened, resolved, workflow, on_event, on_token)
        return await engine.replay(flow, resolved)


async def _refuse_temporal(store: Store, run_id: RunId) -> None:
    """A run on Temporal is not resumed in this process: its workflow executes it.

    Raises:
        RunStateError: the run is on Temporal.
    """
    ref = await temporal_ref(store, run_id)
    if ref is None:
        return
    msg = (
        f"run {run_id} runs on Temporal (workflow {ref.workflow_id} at {ref.address}) and is "
        "not resumed in this process: `podium resume` starts its workflow again on Temporal"
    )
    raise RunStateError(msg)


async def _engine_for(
    store: Store,
    run_id: RunId,
    workflow: Workflow | str | Path | None,
    on_event: Callable[[Event], None] | None,
    on_token: Callable[[TaskId, str], None] | None,
    *,
    clock: Clock | None = None,
) -> tuple[LocalEngine, Workflow]:
    """An engine to go on with ``run_id`` (on the model it ran with) and its workflow."""
    started = await _run_started(store, run_id)
    flow = _workflow_of(started, workflow)
    engine = LocalEngine(
        kinds=KINDS,
        store=store,
        model=started.model,
        clock=clock,
        subscribers=_subscribers(on_event),
        token_listener=on_token,
    )
    return engine, flow


def _subscribers(on_event: Callable[[Event], None] | None) -> tuple[Callable[[Event], None], ...]:
    """``on_event`` and, when an OpenTelemetry SDK is configured, a tracer for the run."""
    tracer = tracer_subscriber()
    return tuple(s for s in (on_event, tracer) if s is not None)


def agent_workflow(agent: Agent) -> Workflow:
    """A one-task workflow: ``agent`` answers its ``prompt`` input, with its tools.

    Args:
        agent: the agent.

    Returns:
        The workflow ``podium.run(agent, prompt)`` runs; its output is the agent's answer.
    """
    return Workflow(
        name=agent.name,
        agents=(agent,),
        inputs={"prompt": InputSpec(description="what the agent is asked", required=True)},
        tasks=(Task(id=_AGENT_TASK, agent=agent.name, instruction="{{ prompt }}"),),
    )


def _with_prompt(
    workflow: Workflow | Agent | str | Path, inputs: Mapping[str, JsonValue] | str | None
) -> tuple[Workflow | str | Path, Mapping[str, JsonValue] | None]:
    """An agent and its prompt as a workflow and its inputs; a workflow as it is.

    Raises:
        ConfigError: an agent without a prompt, or a prompt without an agent.
    """
    if isinstance(workflow, Agent):
        if not isinstance(inputs, str):
            raise ConfigError(f"agent {workflow.name!r} needs a prompt: run(agent, 'prompt')")
        return agent_workflow(workflow), {"prompt": inputs}
    if isinstance(inputs, str):
        raise ConfigError("a prompt goes with an agent; a workflow takes a mapping of inputs")
    return workflow, inputs


def _load(workflow: Workflow | str | Path) -> tuple[Workflow, str | None]:
    """The workflow, and the absolute path of its file when it came from one."""
    if isinstance(workflow, Workflow):
        return workflow, None
    from podium.workflow.yaml import load_workflow

    return load_workflow(workflow), os.path.abspath(workflow)


async def _run_started(store: Store, run_id: RunId) -> RunStarted:
    events = await store.read(run_id, after_seq=0)
    first = events[0] if events else None
    if not isinstance(first, RunStarted):
        raise ConfigError(f"no run {run_id!r} in the store")
    return first


def _workflow_of(started: RunStarted, workflow: Workflow | str | Path | None) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    from podium.workflow.yaml import load_workflow

    path = workflow if workflow is not None else started.source
    if path is None:
        msg = (
            f"run {started.run_id} was started from a workflow built in Python: "
            "pass the same workflow to resume it"
        )
        raise ConfigError(msg)
    return load_workflow(path)


def run(
    workflow: Workflow | Agent | str | Path | None = None,
    inputs: Mapping[str, JsonValue] | str | None = None,
    *,
    goal: str | None = None,
    docs: str | Path | None = None,
    approve_plan: bool = False,
    budget: Budget | None = None,
    model: str | Model | None = None,
    store: StoreArg = None,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_token: Callable[[TaskId, str], None] | None = None,
    max_concurrency: int | None = None,
) -> RunResult:
    """Run a workflow, a goal on a team, or one agent from synchronous code; see ``arun``.

    ``podium.run(agent, "prompt")`` is the shortest way to run an agent with its tools.

    The parameters, result and errors are those of ``arun``, which this runs with
    ``asyncio.run`` (so it cannot be called from a running event loop: await ``arun`` there).
    """
    results: list[RunResult] = []

    async def main() -> None:
        # The main task returns nothing: asyncio.run formats the repr of its result when it
        # restores the SIGINT handler (python/cpython#112559), seconds for a 10,000-task run.
        result = await arun(
            workflow,
            inputs,
            goal=goal,
            docs=docs,
            approve_plan=approve_plan,
            budget=budget,
            model=model,
            store=store,
            clock=clock,
            ids=ids,
            on_event=on_event,
            on_token=on_token,
            max_concurrency=max_concurrency,
        )
        results.append(result)

    asyncio.run(main())
    return results[0]
