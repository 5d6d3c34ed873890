"""podium as an MCP server: an MCP host (an IDE, a chat app, another agent) drives podium.

``podium mcp`` serves, over stdio or streamable HTTP (behind a bearer token):

- tools ``run_workflow`` (one of the workflow files it was given, with inputs) and
  ``run_goal`` (a goal in plain words on the team), each sending a progress notification as
  every task ends, and answering with the run's id, status, output and what waits for approval;
- resources ``podium://runs`` (recent runs) and ``podium://runs/{run_id}`` (one run's state);
- tools ``list_runs``, ``list_approvals``, ``approve`` and ``deny`` (a decision resumes a
  local run and answers with how it went on; a run on Temporal goes on in its workflow, and
  the answer is its state once the decision is recorded).

It uses only podium's public API (``import podium``), as the CLI does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as exc:  # pragma: no cover
    raise ImportError('podium mcp needs the "mcp" extra: pip install "podium[mcp]"') from exc
from pydantic import JsonValue, TypeAdapter

import podium
from podium.event import Event
from podium.protocols._progress import Start, run_reporting
from podium.protocols._token import bearer_guard

__all__ = ["McpServing", "build_server", "serve_http", "serve_stdio"]

_JSON: TypeAdapter[Any] = TypeAdapter(Any)  # Any: dataclasses of the public API, to JSON
_MAX_LISTED = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class McpServing:
    """What ``podium mcp`` serves.

    Attributes:
        workflows: workflow files by workflow name (``run_workflow`` runs one of them).
        team: the team file goals run on (None: ``podium.yaml`` here, else the default team).
        store: where runs are recorded (a SQLite path or PostgreSQL URL; None: the default).
        model: a model name replacing every agent's model (``scripted`` for demos and tests).
        docs: a directory of documents goals retrieve from and cite.
    """

    workflows: dict[str, Path] = field(default_factory=dict[str, Path])
    team: Path | None = None
    store: str | Path | None = None
    model: str | None = None
    docs: Path | None = None


def build_server(serving: McpServing) -> MCPServer:
    """The MCP server: its tools and resources over ``serving``."""
    server = MCPServer(
        "podium",
        instructions="podium runs workflows and goals on a team of AI agents. Start one with "
        "run_workflow or run_goal; read runs at podium://runs/{run_id}; decide what waits "
        "with list_approvals, approve and deny.",
    )
    _add_run_tools(server, serving)
    _add_decision_tools(server, serving)
    _add_resources(server, serving)
    return server


def _add_run_tools(server: MCPServer, serving: McpServing) -> None:
    names = ", ".join(sorted(serving.workflows)) or "none"

    @server.tool(description=f"Run a workflow to its end. Workflows: {names}.")
    async def run_workflow(
        workflow: str, inputs: dict[str, Any] | None = None, ctx: Context | None = None
    ) -> dict[str, Any]:
        path = serving.workflows.get(workflow)
        if path is None:
            raise ToolError(f"no workflow {workflow!r}; this server runs: {names}")
        start = _starter(serving, path, inputs=inputs or {})
        return await _run_with_progress(start, ctx)

    @server.tool(description="Plan a goal in plain words on the team, run it, and answer it.")
    async def run_goal(goal: str, ctx: Context | None = None) -> dict[str, Any]:
        start = _starter(serving, serving.team, goal=goal)
        return await _run_with_progress(start, ctx)


def _add_decision_tools(server: MCPServer, serving: McpServing) -> None:
    @server.tool(description="The most recent runs, newest first.")
    async def list_runs(limit: int = 20) -> list[dict[str, Any]]:
        runs = await podium.list_runs(limit=min(limit, _MAX_LISTED), store=serving.store)
        return [_summary(run) for run in runs]

    @server.tool(description="What waits for a person's approval, across recent runs.")
    async def list_approvals() -> list[dict[str, Any]]:
        return await _pending(serving)

    @server.tool(description="Approve a waiting task; the run goes on and this answers how.")
    async def approve(run_id: str, task_id: str, comment: str = "") -> dict[str, Any]:
        await _decided(
            podium.approve(run_id, task_id, comment=comment, by="mcp", store=serving.store)
        )
        return await _goes_on(serving, run_id)

    @server.tool(description="Deny a waiting task (its task fails); the run goes on.")
    async def deny(run_id: str, task_id: str, reason: str) -> dict[str, Any]:
        await _decided(podium.deny(run_id, task_id, reason=reason, by="mcp", store=serving.store))
        return await _goes_on(serving, run_id)


def _add_resources(server: MCPServer, serving: McpServing) -> None:
    @server.resource("podium://runs", mime_type="application/json", description="Recent runs")
    async def runs() -> list[dict[str, Any]]:
        return [_summary(r) for r in await podium.list_runs(limit=50, store=serving.store)]

    @server.resource(
        "podium://runs/{run_id}", mime_type="application/json", description="A run's state"
    )
    async def run(run_id: str) -> dict[str, Any]:
        state = await podium.get_run(run_id, store=serving.store)
        shown = await podium.shown_statuses([state])
        return _state(state, shown.statuses[state.run_id])


def _starter(
    serving: McpServing,
    workflow: Path | None,
    *,
    inputs: dict[str, Any] | None = None,
    goal: str | None = None,
) -> Start:
    def start(on_event: Callable[[Event], None]) -> Awaitable[podium.RunResult]:
        return podium.arun(
            workflow,
            inputs,
            goal=goal,
            docs=serving.docs if goal is not None else None,
            model=serving.model,
            store=serving.store,
            on_event=on_event,
        )

    return start


async def _run_with_progress(start: Start, ctx: Context | None) -> dict[str, Any]:
    """Run, sending a progress notification as each task ends; the result as JSON."""
    ended = 0

    async def report(event: Event) -> None:
        nonlocal ended
        if event.kind in ("task_succeeded", "task_failed", "approval_requested") and ctx:
            ended += 1
            what = event.kind.removeprefix("task_")
            await ctx.report_progress(ended, None, f"{event.task_id}: {what}")  # type: ignore[union-attr]

    try:
        result = await run_reporting(start, report)
    except podium.ConfigError as exc:  # a bad input or workflow: the host is told why
        raise ToolError(str(exc)) from None
    return _result(result)


async def _decided(decision: Awaitable[object]) -> None:
    try:
        await decision
    except podium.ConfigError as exc:
        raise ToolError(str(exc)) from None


async def _goes_on(serving: McpServing, run_id: str) -> dict[str, Any]:
    """After a decision: resume a local run here and answer how it ended; a run on Temporal
    is not resumed (its workflow took the decision and goes on), so answer its state now."""
    state = await podium.get_run(run_id, store=serving.store)
    if state.temporal is None:
        return _result(await podium.resume(run_id, store=serving.store))
    shown = await podium.shown_statuses([state])
    return _state(state, shown.statuses[state.run_id])


async def _pending(serving: McpServing) -> list[dict[str, Any]]:
    return [
        {
            "run_id": request.run_id,
            "task_id": request.task_id,
            "reason": request.reason,
            "proposed": request.output,
        }
        for _, request in await podium.pending_approvals(scan=_MAX_LISTED, store=serving.store)
    ]


def _result(result: podium.RunResult) -> dict[str, Any]:
    waiting = [t for t, s in result.tasks.items() if s.status == "waiting"]
    answer: dict[str, Any] = {
        "run_id": result.run_id,
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "tasks": {t: {"status": s.status, "agent": s.agent} for t, s in result.tasks.items()},
    }
    if waiting:
        answer["waiting_for_approval"] = waiting
    return answer


def _summary(run: podium.RunSummary) -> dict[str, Any]:
    return _JSON.dump_python(run, mode="json")


def _state(state: podium.RunState, status: str) -> dict[str, Any]:
    tasks: dict[str, JsonValue] = {
        task_id: _JSON.dump_python(task, mode="json") for task_id, task in state.tasks.items()
    }
    return {
        "run_id": state.run_id,
        "workflow": state.workflow,
        "goal": state.goal,
        "status": status,
        "inputs": state.inputs,
        "output": state.output,
        "error": state.error,
        "tasks": tasks,
        "waiting_for_approval": sorted(state.approvals),
    }


async def serve_stdio(serving: McpServing) -> None:
    """Serve MCP over standard input and output until the host closes them."""
    await build_server(serving).run_stdio_async()


def serve_http(serving: McpServing, *, host: str, port: int, token: str) -> None:
    """Serve MCP over streamable HTTP at ``/mcp``; every request needs ``Bearer TOKEN``."""
    import uvicorn

    app = build_server(serving).streamable_http_app()
    uvicorn.run(bearer_guard(app, token), host=host, port=port, log_level="warning")
