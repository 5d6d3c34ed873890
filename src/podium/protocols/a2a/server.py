"""podium as A2A agents: each workflow, and the team that runs goals, behind an agent card.

``podium a2a`` serves, at ``http://HOST:PORT/agents/NAME/`` (JSON-RPC, streaming), one agent
per workflow file given and one called ``team`` for goals. Each card's skill comes from the
workflow's name, description and inputs (the team's: its agents' capabilities).

- A message starts a run: a data part holds the inputs (``{"who": "Lan"}``); text alone is the
  input of a workflow that takes one, or the goal for ``team``. The A2A task is the run.
- While it runs, each task that ends is a ``working`` status update; the final output is an
  artifact named ``output`` (text, or data when it is JSON), and the task completes or fails.
- A run that waits for a person's approval is ``input-required``: the next message on that
  task decides (``approve`` or ``yes`` approves, anything else denies with it as the reason)
  and the run goes on.
- ``tasks/cancel`` cancels the run (recorded as cancelled; ``podium resume`` continues it).

Every request but the cards needs ``Authorization: Bearer TOKEN``. Uses only the public API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

try:
    from a2a.helpers import (
        get_data_parts,
        new_data_part,
        new_task_from_user_message,
        new_text_message,
        new_text_part,
    )
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandlerV2
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import (
        AgentCapabilities,
        AgentCard,
        AgentInterface,
        AgentSkill,
        HTTPAuthSecurityScheme,
        Message,
        SecurityRequirement,
        SecurityScheme,
        StringList,
        TaskState,
    )
    from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.types import ASGIApp
except ImportError as exc:  # pragma: no cover
    raise ImportError('podium a2a needs the "a2a" extra: pip install "podium[a2a]"') from exc

import podium
from podium.event import Event
from podium.protocols._progress import Start, run_reporting
from podium.protocols._token import bearer_guard

__all__ = ["A2aServing", "build_app"]

TEAM = "team"
"""The agent that runs goals on the team."""
_APPROVING = ("approve", "approved", "yes", "ok")
_CANCEL_DEADLINE_S = 30.0
"""How long ``tasks/cancel`` waits for the run to record itself cancelled."""


@dataclass(frozen=True, slots=True, kw_only=True)
class A2aServing:
    """What ``podium a2a`` serves.

    Attributes:
        base_url: where clients reach this server (``http://127.0.0.1:8766``).
        token: the bearer token every request but the cards must carry.
        workflows: workflow files by workflow name.
        team: the team file goals run on (None: ``podium.yaml`` here, else the default team).
        store: where runs are recorded (a SQLite path or PostgreSQL URL; None: the default).
        model: a model name replacing every agent's model (``scripted`` for demos and tests).
        docs: documents goals retrieve from and cite.
    """

    base_url: str
    token: str
    workflows: dict[str, Path] = field(default_factory=dict[str, Path])
    team: Path | None = None
    store: str | Path | None = None
    model: str | None = None
    docs: Path | None = None


def build_app(serving: A2aServing) -> ASGIApp:
    """The ASGI app: one A2A agent per workflow and one for the team, behind the token."""
    mounts = [
        Mount(f"/agents/{name}", routes=_agent_routes(serving, name, card))
        for name, card in _cards(serving).items()
    ]
    return bearer_guard(Starlette(routes=mounts), serving.token, is_public=_is_card)


def _agent_routes(serving: A2aServing, name: str, card: AgentCard) -> list[Any]:
    executor = RunExecutor(serving, None if name == TEAM else serving.workflows[name])
    handler = DefaultRequestHandlerV2(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=card
    )
    return [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, rpc_url="/")]


def _cards(serving: A2aServing) -> dict[str, AgentCard]:
    cards: dict[str, AgentCard] = {}
    for name, path in serving.workflows.items():
        workflow = podium.load_workflow(path)
        inputs = "; ".join(
            f"{key}{' (required)' if spec.required else ''}: {spec.description or 'no description'}"
            for key, spec in workflow.inputs.items()
        )
        about = workflow.description or f"Runs the workflow {name}."
        skill = AgentSkill(
            id=name,
            name=name,
            description=f"{about} Inputs (a data part, or text for a single input): "
            f"{inputs or 'none'}.",
            tags=sorted({c for agent in workflow.agents for c in agent.capabilities}) or [name],
            examples=[workflow.description] if workflow.description else [],
        )
        cards[name] = _card(serving, name, about, skill)
    team = podium.load_workflow(serving.team or podium.find_team())
    capabilities = sorted({c for agent in team.agents for c in agent.capabilities})
    skill = AgentSkill(
        id="goal",
        name="goal",
        description="Plans a goal in plain words (the message text) on the team, runs the "
        f"plan and answers with cited claims. The team's capabilities: {', '.join(capabilities)}.",
        tags=capabilities or ["goal"],
    )
    cards[TEAM] = _card(serving, TEAM, team.description or "podium's team for goals.", skill)
    return cards


def _is_card(path: str) -> bool:
    return path.endswith(AGENT_CARD_WELL_KNOWN_PATH)


def _card(serving: A2aServing, name: str, description: str, skill: AgentSkill) -> AgentCard:
    url = f"{serving.base_url.rstrip('/')}/agents/{name}/"
    bearer = SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="bearer"))
    return AgentCard(
        name=name,
        description=description,
        version=_version(),
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[skill],
        security_schemes={"bearer": bearer},
        security_requirements=[SecurityRequirement(schemes={"bearer": StringList()})],
    )


def _version() -> str:
    from importlib.metadata import version

    return version("podium")


class RunExecutor(AgentExecutor):
    """A2A tasks as podium runs: start, stream, ask for approval, decide, cancel."""

    def __init__(self, serving: A2aServing, workflow: Path | None) -> None:
        self._serving = serving
        self._workflow = workflow
        self._runs: dict[str, str] = {}
        """The run of each A2A task."""
        self._live: dict[str, asyncio.Task[podium.RunResult]] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Start the run a message asks for, or decide the approval it waits on."""
        task = context.current_task
        message = context.message
        if task is None:
            assert message is not None  # a request without a task always has a message
            task = new_task_from_user_message(message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        try:
            start = await self._start(task.id, message)
        except (podium.ConfigError, ValueError) as exc:
            await updater.failed(new_text_message(str(exc)))
            return
        await self._follow(task.id, start, updater)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Cancel the task's run; it is recorded as cancelled and can be resumed."""
        task_id = context.task_id or ""
        live = self._live.get(task_id)
        if live is not None:
            live.cancel()
            async with asyncio.timeout(_CANCEL_DEADLINE_S):  # until it is recorded cancelled
                await asyncio.wait({live})
        task = context.current_task
        updater = TaskUpdater(event_queue, task_id, task.context_id if task else "")
        await updater.cancel(new_text_message(f"run {self._runs.get(task_id, '')} cancelled"))

    async def _start(self, task_id: str, message: Message | None) -> Start:
        run_id = self._runs.get(task_id)
        if run_id is not None:
            await self._decide(run_id, _text(message))
            return lambda on_event: podium.resume(
                run_id, store=self._serving.store, on_event=on_event
            )
        inputs, goal = self._request(message)

        def start(on_event: Callable[[Event], None]) -> Awaitable[podium.RunResult]:
            return podium.arun(
                self._workflow,
                inputs,
                goal=goal,
                docs=self._serving.docs if goal is not None else None,
                model=self._serving.model,
                store=self._serving.store,
                on_event=on_event,
            )

        return start

    def _request(self, message: Message | None) -> tuple[dict[str, Any] | None, str | None]:
        """The inputs (a workflow) or the goal (the team) a message asks for."""
        text = _text(message)
        if self._workflow is None:
            if not text.strip():
                raise ValueError("send the goal as the message text")
            return None, text
        parts: list[object] = get_data_parts(message.parts) if message else []
        data = [cast("dict[str, Any]", d) for d in parts if isinstance(d, dict)]
        if data:
            return dict(data[0]), None
        names = list(podium.load_workflow(self._workflow).inputs)
        if text.strip() and len(names) == 1:
            return {names[0]: text}, None
        if text.strip() and names:
            raise ValueError(f"send the inputs as a data part: {', '.join(names)}")
        return {}, None

    async def _decide(self, run_id: str, answer: str) -> None:
        state = await podium.get_run(run_id, store=self._serving.store)
        if not state.approvals:
            raise ValueError(f"run {run_id} waits for no approval: it is {state.status}")
        for task_id in state.approvals:
            if answer.strip().lower().rstrip(".!") in _APPROVING:
                await podium.approve(
                    run_id, task_id, comment=answer, by="a2a", store=self._serving.store
                )
            else:
                await podium.deny(
                    run_id, task_id, reason=answer, by="a2a", store=self._serving.store
                )

    async def _follow(self, task_id: str, start: Start, updater: TaskUpdater) -> None:
        async def report(event: Event) -> None:
            if event.kind in ("run_started", "run_resumed"):  # working, and cancellable
                self._runs[task_id] = event.run_id
                what = event.kind.removeprefix("run_")
                note = new_text_message(f"run {event.run_id} {what}")
                await updater.update_status(TaskState.TASK_STATE_WORKING, note)
            if event.kind in ("task_succeeded", "task_failed"):
                what = event.kind.removeprefix("task_")
                note = new_text_message(f"{event.task_id}: {what}")  # type: ignore[union-attr]
                await updater.update_status(TaskState.TASK_STATE_WORKING, note)

        async with asyncio.TaskGroup() as group:
            live = group.create_task(run_reporting(start, report))
            self._live[task_id] = live
            try:
                result = await live
            except asyncio.CancelledError:
                if live.cancelled() and not _being_cancelled():
                    return  # ``cancel`` stopped the run and said so
                raise
            finally:
                self._live.pop(task_id, None)
        await _finish(updater, result)


async def _finish(updater: TaskUpdater, result: podium.RunResult) -> None:
    if result.status == "waiting":
        waiting = [t for t, s in result.tasks.items() if s.status == "waiting"]
        proposed = "; ".join(f"{t} proposes {result.tasks[t].output!r}" for t in waiting)
        ask = f"run {result.run_id} waits for approval: {proposed}. Answer approve, or why not."
        await updater.requires_input(new_text_message(ask))
        return
    if result.status != "succeeded":
        await updater.failed(new_text_message(f"run {result.run_id}: {result.error}"))
        return
    output = result.output
    part = new_text_part(output) if isinstance(output, str) else new_data_part(output)
    await updater.add_artifact([part], name="output", metadata={"run_id": result.run_id})
    await updater.complete()


def _being_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _text(message: Message | None) -> str:
    if message is None:
        return ""
    return "\n".join(part.text for part in message.parts if part.HasField("text"))
