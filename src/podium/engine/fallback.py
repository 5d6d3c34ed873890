"""Fallbacks: when a task's agent keeps failing, or its circuit is open, others take over.

A task is tried on its *targets* in order: its agent (``agent:NAME``), then the fallbacks of
the agent's effective policy, the engine's retry policy overlaid with the workflow's
``defaults`` and then the agent's ``policy``, field by field. ``agent:OTHER`` runs the task
with that agent (its instructions, model, tools and scopes; the same task instruction);
``model:NAME`` runs the same agent on that model. Each target gets its own retries and attempt
deadline (a fallback agent its own policy's; its fallbacks are not followed, so there are no
chains or cycles). Before each fallback a ``task_rerouted`` event says why.

Any failure moves on to the next target once the target's retries are spent, a non-retryable
one too (a bad request, invalid output): another agent or model may well succeed where this
one cannot, and a fallback is declared for exactly that. A target whose circuit is open is not
called at all (reason ``circuit open``). The run-wide model override (``--model``) replaces
fallback models too, so an offline run stays offline.

When every target fails, the task fails with one ``TaskError`` listing each target's failure,
whose ``__cause__`` is an ``ExceptionGroup`` of them (each target's last error); with no
fallbacks the agent's own error is the task's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from podium.agent import Agent
from podium.engine.attempt import AgentAnswer, AgentCall
from podium.engine.frame import Frame
from podium.engine.host import AttemptHost, Target
from podium.errors import CircuitOpenError, ConfigError, TaskError
from podium.event import TaskRerouted
from podium.models.base import Model
from podium.models.spec import ModelSpec
from podium.policy import CircuitPolicy, Policy, parse_fallback
from podium.workflow.model import Workflow

__all__ = [
    "Target",
    "attempt_with_fallbacks",
    "combined_failure",
    "effective_policy",
    "fallback_agents",
]


async def attempt_with_fallbacks(
    run: AttemptHost, call: AgentCall, frame: Frame
) -> tuple[AgentCall, AgentAnswer | Exception]:
    """Attempt ``call``'s task with its agent, then with each fallback until one succeeds.

    Returns:
        The call made last (its agent answered, or failed last) and the answer or failure.
    """
    targets = [_target(run, call, frame, plan) for plan in _plan(run, call.agent, frame.workflow)]
    failures: list[tuple[str, Exception]] = []
    for index, target in enumerate(targets):
        if index:
            attempt = run.recorder.state.task(call.task_id).attempts + 1
            call = replace(run.call_with(call, frame, target.agent), attempt=attempt)
        result = await run.attempts(call, frame, target)
        if not isinstance(result, Exception):
            return call, result
        failures.append((target.name, result))
        if index + 1 < len(targets):
            await _reroute(run, call, frame, result, (target, targets[index + 1]))
    return call, combined_failure(call.task_id, failures)


def effective_policy(run: AttemptHost, workflow: Workflow, agent: Agent) -> Policy:
    """The engine's retry policy, overlaid with the team's defaults, then the agent's policy."""
    return Policy(retry=run.retry).merged(workflow.defaults).merged(agent.policy)


def fallback_agents(run: AttemptHost, agent: Agent, workflow: Workflow) -> list[Agent]:
    """The agents (or the agent on other models) that ``agent``'s fallbacks run."""
    return [fallback for _, fallback, _ in _plan(run, agent, workflow)[1:]]


def _plan(run: AttemptHost, agent: Agent, workflow: Workflow) -> list[tuple[str, Agent, Policy]]:
    """The targets of ``agent``'s tasks, in order: name, agent and its effective policy.

    Computed once per agent and workflow of a run (policies are immutable data).
    """
    key = (id(workflow), agent.name)
    plan = run.plans.get(key)
    if plan is None:
        plan = run.plans[key] = _make_plan(run, agent, workflow)
    return plan


def _make_plan(
    run: AttemptHost, agent: Agent, workflow: Workflow
) -> list[tuple[str, Agent, Policy]]:
    policy = effective_policy(run, workflow, agent)
    plan = [(f"agent:{agent.name}", agent, policy)]
    for name in policy.fallbacks:
        if any(name == seen for seen, _, _ in plan):
            continue  # the agent itself, listed in the team's defaults
        kind, what = parse_fallback(name)
        if kind == "model":
            plan.append((name, agent.model_copy(update={"model": what}), policy))
            continue
        other = workflow.agent(what)
        if other is None:  # pragma: no cover - validation guarantees it
            raise ConfigError(f"agent {agent.name!r}: unknown fallback agent {what!r}")
        plan.append((name, other, effective_policy(run, workflow, other)))
    return plan


def _target(
    run: AttemptHost, call: AgentCall, frame: Frame, plan: tuple[str, Agent, Policy]
) -> Target:
    name, agent, policy = plan
    workflow = frame.workflow
    timeout = call.task.timeout
    if policy.timeout is not None:
        timeout = min(policy.timeout, timeout)
    model = f"model:{_model_name(run.model_choice(agent, workflow))}"
    circuits = (
        run.circuits.get(model, workflow.defaults.circuit or CircuitPolicy()),
        run.circuits.get(f"agent:{agent.name}", policy.circuit or CircuitPolicy()),
    )
    retry = policy.retry or run.retry
    return Target(name=name, agent=agent, retry=retry, timeout=timeout, circuits=circuits)


def _model_name(choice: str | ModelSpec | Model) -> str:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, ModelSpec):
        name = f"{choice.provider}:{choice.name}" if choice.name else choice.provider
        return f"{name}@{choice.base_url}" if choice.base_url else name
    return choice.name


async def _reroute(
    run: AttemptHost, call: AgentCall, frame: Frame, error: Exception, move: tuple[Target, Target]
) -> None:
    """Record the end of one target (unless it was never called) and the move to the next."""
    if isinstance(error, CircuitOpenError):
        reason = f"circuit open: {error.target}"
    else:
        attempt = error.attempt if isinstance(error, TaskError) else call.attempt
        await run.fail(call.task_id, call.agent.name, error, frame, attempt=attempt)
        reason = f"failed: {_describe(error)}"
    rerouted = partial(
        TaskRerouted,
        task_id=call.task_id,
        from_target=move[0].name,
        to_target=move[1].name,
        reason=reason,
    )
    await run.recorder.emit(rerouted)


def combined_failure(task_id: str, failures: Sequence[tuple[str, Exception]]) -> Exception:
    """A task's failure from each target's (``(target, error)``, in the order tried).

    Returns:
        The only target's own error; else one ``TaskError`` listing them all, whose
        ``__cause__`` is an ``ExceptionGroup`` of them.
    """
    if len(failures) == 1:
        return failures[0][1]
    listed = "; ".join(f"{target}: {_describe(error)}" for target, error in failures)
    last = failures[-1][1]
    attempt = last.attempt if isinstance(last, TaskError) else 1
    error = TaskError(f"every target failed: {listed}", task_id=task_id, attempt=attempt)
    group = ExceptionGroup(f"task {task_id!r}: every target failed", [e for _, e in failures])
    error.__cause__ = group
    return error


def _describe(error: Exception) -> str:
    message = error.message if isinstance(error, TaskError) else str(error)
    return f"{type(error).__name__}: {message}"
