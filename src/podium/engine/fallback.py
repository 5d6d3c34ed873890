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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from podium.agent import Agent
from podium.engine.attempt import AgentAnswer, AgentCall, Attempt
from podium.engine.breaker import CircuitBreaker, Circuits
from podium.engine.failure import describe, failed_event
from podium.engine.recorder import Recorder
from podium.errors import CircuitOpenError, ConfigError, TaskError
from podium.event import TaskRerouted
from podium.models.base import Model
from podium.models.spec import ModelSpec
from podium.policy import CircuitPolicy, Policy, RetryPolicy, parse_fallback
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = ["Fallbacks", "Target", "Targets", "combined_failure"]

ModelChoice = Callable[[Agent, Workflow], "str | ModelSpec | Model"]
"""What names the model an agent uses in a run (``RunModels.model_choice``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One way to run a task: an agent on its model, with retries, a deadline and circuits."""

    name: str
    """``agent:NAME`` or ``model:NAME``, as ``task_rerouted`` events name it."""
    agent: Agent
    """The agent that runs the task (for ``model:NAME``, the task's agent on that model)."""
    retry: RetryPolicy
    timeout: timedelta
    """Deadline of one attempt."""
    circuits: tuple[CircuitBreaker, ...]
    """The model's and the agent's: a call goes through only if both let it."""


class Targets:
    """The targets of each agent's tasks in one run: the agent, then its fallbacks.

    Args:
        retry: the engine's retry policy, under the workflow's ``defaults`` and the agent's.
        circuits: the run's circuit breakers.
        model_choice: what names the model an agent uses in the run.
    """

    def __init__(self, retry: RetryPolicy, circuits: Circuits, model_choice: ModelChoice) -> None:
        self._retry = retry
        self._circuits = circuits
        self._model_choice = model_choice
        self._plans: dict[tuple[int, str], list[tuple[str, Agent, Policy]]] = {}
        self._targets: dict[tuple[int, str, timedelta], tuple[Target, ...]] = {}

    def of(self, task: Task, agent: Agent, workflow: Workflow) -> tuple[Target, ...]:
        """Where ``task`` of ``agent`` runs, in the order tried.

        Made once per agent, workflow and task deadline of a run (all a target depends on),
        so that tasks alike share their targets, and the attempt chains built on them
        (``wrappers.AttemptParts.chains``).
        """
        key = (id(workflow), agent.name, task.timeout)
        targets = self._targets.get(key)
        if targets is None:
            plans = self._plan(agent, workflow)
            targets = self._targets[key] = tuple(self._target(task, workflow, p) for p in plans)
        return targets

    def fallback_agents(self, agent: Agent, workflow: Workflow) -> list[Agent]:
        """The agents (or the agent on other models) that ``agent``'s fallbacks run."""
        return [fallback for _, fallback, _ in self._plan(agent, workflow)[1:]]

    def effective_policy(self, workflow: Workflow, agent: Agent) -> Policy:
        """The engine's retry policy, overlaid with the team's defaults, then the agent's."""
        return Policy(retry=self._retry).merged(workflow.defaults).merged(agent.policy)

    def _plan(self, agent: Agent, workflow: Workflow) -> list[tuple[str, Agent, Policy]]:
        """The targets of ``agent``'s tasks, in order: name, agent and its effective policy.

        Computed once per agent and workflow of a run (policies are immutable data).
        """
        key = (id(workflow), agent.name)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(agent, workflow)
        return plan

    def _make_plan(self, agent: Agent, workflow: Workflow) -> list[tuple[str, Agent, Policy]]:
        policy = self.effective_policy(workflow, agent)
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
            plan.append((name, other, self.effective_policy(workflow, other)))
        return plan

    def _target(self, task: Task, workflow: Workflow, plan: tuple[str, Agent, Policy]) -> Target:
        name, agent, policy = plan
        timeout = task.timeout
        if policy.timeout is not None:
            timeout = min(policy.timeout, timeout)
        model = f"model:{_model_name(self._model_choice(agent, workflow))}"
        circuits = (
            self._circuits.get(model, workflow.defaults.circuit or CircuitPolicy()),
            self._circuits.get(f"agent:{agent.name}", policy.circuit or CircuitPolicy()),
        )
        retry = policy.retry or self._retry
        return Target(name=name, agent=agent, retry=retry, timeout=timeout, circuits=circuits)


def _model_name(choice: str | ModelSpec | Model) -> str:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, ModelSpec):
        name = f"{choice.provider}:{choice.name}" if choice.name else choice.provider
        return f"{name}@{choice.base_url}" if choice.base_url else name
    return choice.name


class Fallbacks:
    """Attempt wrapper: tries the task on each target in turn until one answers.

    Each target has its own chain (its retries, deadline and circuits). Before the next
    target a ``task_rerouted`` event says why; the answer of a fallback names its agent
    (``AgentAnswer.agent``), and so does the combined failure when all of them fail.

    Args:
        targets: each target with the attempt chain that runs it, in the order tried.
        recorder: the run's log.
        move: ``call`` made by another agent (a fallback agent, or the agent on another
            model): its values, model and recorded calls.
    """

    def __init__(
        self,
        targets: Sequence[tuple[Target, Attempt]],
        *,
        recorder: Recorder,
        move: Callable[[AgentCall, Agent], AgentCall],
    ) -> None:
        self._targets = targets
        self._recorder = recorder
        self._move = move

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call``'s task with its agent, then with each fallback until one succeeds."""
        failures: list[tuple[str, Exception]] = []
        last = len(self._targets) - 1
        for index, (target, attempt) in enumerate(self._targets):
            if index:
                tried = self._recorder.state.task(call.task_id).attempts + 1
                call = replace(self._move(call, target.agent), attempt=tried)
            result = await attempt(call)
            if not isinstance(result, Exception):
                return replace(result, agent=target.agent) if index else result
            failures.append((target.name, result))
            if index < last:
                await self._reroute(call, result, (target, self._targets[index + 1][0]))
        failure = combined_failure(call.task_id, failures)
        if isinstance(failure, TaskError):
            failure.agent = call.agent.name
        return failure

    async def _reroute(
        self, call: AgentCall, error: Exception, move: tuple[Target, Target]
    ) -> None:
        """Record the end of one target (unless it was never called) and the move to the next."""
        if isinstance(error, CircuitOpenError):
            reason = f"circuit open: {error.target}"
        else:
            attempt = error.attempt if isinstance(error, TaskError) else call.attempt
            name, iteration = call.agent.name, call.iteration
            failed = failed_event(call.task_id, name, error, iteration=iteration, attempt=attempt)
            await self._recorder.emit_all([failed])
            reason = f"failed: {describe(error)}"
        rerouted = partial(
            TaskRerouted,
            task_id=call.task_id,
            from_target=move[0].name,
            to_target=move[1].name,
            reason=reason,
        )
        await self._recorder.emit(rerouted)


def combined_failure(task_id: str, failures: Sequence[tuple[str, Exception]]) -> Exception:
    """A task's failure from each target's (``(target, error)``, in the order tried).

    Returns:
        The only target's own error; else one ``TaskError`` listing them all, whose
        ``__cause__`` is an ``ExceptionGroup`` of them.
    """
    if len(failures) == 1:
        return failures[0][1]
    listed = "; ".join(f"{target}: {describe(error)}" for target, error in failures)
    last = failures[-1][1]
    attempt = last.attempt if isinstance(last, TaskError) else 1
    error = TaskError(f"every target failed: {listed}", task_id=task_id, attempt=attempt)
    group = ExceptionGroup(f"task {task_id!r}: every target failed", [e for _, e in failures])
    error.__cause__ = group
    return error
