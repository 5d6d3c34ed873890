"""A2A client: remote agents as members of a team (``podium.peer``).

``bind_remote_agents(workflow)`` fetches the card of each agent declared with ``a2a:`` and
gives the agent its card's skills as capabilities (ids and tags; its own, when the file names
some, win) and the card's description, so the router and the planner see it like any local
agent; its model becomes an ``A2aModel``, which sends each task to the remote agent as an A2A
message and answers with what the remote task produced. Being a model call, it is journaled
(a resumed run does not ask again), retried per policy, counted in budgets and traced.

Failures map to ``ModelError`` kinds for the retry policy: the agent cannot be reached or its
server failed (``server``, retryable), it ran out of time (``timeout``, retryable), it failed
the task, asked for input or refused it (``other``).
"""

from __future__ import annotations

import json
from typing import Any

try:
    import httpx
    from a2a.client import ClientConfig, create_client
    from a2a.client.card_resolver import A2ACardResolver
    from a2a.client.errors import A2AClientError
    from a2a.helpers import get_artifact_text, get_data_parts, new_text_message
    from a2a.types import (
        AgentCard,
        Artifact,
        Role,
        SendMessageRequest,
        StreamResponse,
        TaskState,
    )
except ImportError as exc:  # pragma: no cover
    raise ImportError('remote agents need the "a2a" extra: pip install "podium[a2a]"') from exc

from podium.agent import Agent
from podium.errors import ConfigError, ModelError
from podium.models.base import ModelRequest, ModelResponse
from podium.peer import A2aPeerSpec
from podium.toolserver import expand_environment
from podium.workflow.model import Workflow

__all__ = ["A2aModel", "bind_remote_agents"]

_FAILED = {
    TaskState.TASK_STATE_FAILED: "failed the task",
    TaskState.TASK_STATE_REJECTED: "rejected the task",
    TaskState.TASK_STATE_CANCELED: "cancelled the task",
    TaskState.TASK_STATE_INPUT_REQUIRED: "asks for input, which a team member cannot give",
    TaskState.TASK_STATE_AUTH_REQUIRED: "asks for authentication",
}


async def bind_remote_agents(workflow: Workflow) -> Workflow:
    """``workflow`` with each remote agent described by its card and answering over A2A.

    Raises:
        ConfigError: a card cannot be fetched or read.
    """
    agents = [await _bind(agent) if agent.a2a else agent for agent in workflow.agents]
    return workflow.model_copy(update={"agents": tuple(agents)})


async def _bind(agent: Agent) -> Agent:
    assert agent.a2a is not None  # only remote agents are bound
    card = await _card(agent.name, agent.a2a)
    skills = [(s.id, s.description, list(s.tags)) for s in card.skills]
    capabilities = agent.capabilities or tuple(
        dict.fromkeys(name for skill_id, _, tags in skills for name in (skill_id, *tags))
    )
    about = "; ".join(f"{skill_id}: {text}" for skill_id, text, _ in skills)
    description = agent.description or f"{card.description} Skills: {about}".strip()
    model = A2aModel(card, agent.a2a)
    return agent.model_copy(
        update={"capabilities": capabilities, "description": description, "model": model}
    )


async def _card(name: str, peer: A2aPeerSpec) -> AgentCard:
    try:
        async with _http(name, peer) as http:
            return await A2ACardResolver(http, peer.url).get_agent_card()
    except (A2AClientError, httpx.HTTPError) as exc:
        msg = f"agent {name!r}: cannot read the A2A agent card at {peer.url}: {exc}"
        raise ConfigError(msg) from exc


def _http(name: str, peer: A2aPeerSpec) -> httpx.AsyncClient:
    where = f"agent {name!r}"
    headers = {k: expand_environment(v, where=where) for k, v in peer.headers.items()}
    return httpx.AsyncClient(headers=headers, timeout=peer.timeout.total_seconds())


class A2aModel:
    """A remote A2A agent, asked as a model: the task's prompt goes out, its output comes back.

    Args:
        card: the remote agent's card (where to send, what it can do).
        peer: how to reach it (headers, timeout).
    """

    def __init__(self, card: AgentCard, peer: A2aPeerSpec) -> None:
        self._card = card
        self._peer = peer

    @property
    def name(self) -> str:
        """``a2a:`` and the remote agent's name."""
        return f"a2a:{self._card.name}"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Send the conversation's last user message to the remote agent; its output.

        Raises:
            ModelError: it could not be reached, timed out, or did not complete the task.
        """
        text = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        message = new_text_message(text, role=Role.ROLE_USER)
        try:
            async with (
                _http(self._card.name, self._peer) as http,
                await create_client(self._card, ClientConfig(httpx_client=http)) as client,
            ):
                responses = client.send_message(SendMessageRequest(message=message))
                output = await _output(self.name, [r async for r in responses])
        except httpx.TimeoutException as exc:
            raise ModelError(f"{self.name} did not answer in time", kind="timeout") from exc
        except (A2AClientError, httpx.HTTPError) as exc:
            raise ModelError(f"{self.name} cannot be reached: {exc}", kind="server") from exc
        return ModelResponse(model=self.name, text=output)


async def _output(name: str, responses: list[StreamResponse]) -> str:
    """The text (or JSON) the remote task produced, from its streamed responses.

    Raises:
        ModelError: the task did not complete.
    """
    state, note = TaskState.TASK_STATE_UNSPECIFIED, ""
    parts: list[Artifact] = []
    for response in responses:
        if response.HasField("task"):
            state = response.task.status.state
            parts += list(response.task.artifacts)
        elif response.HasField("status_update"):
            status = response.status_update.status
            state = status.state
            note = " ".join(p.text for p in status.message.parts if p.HasField("text")) or note
        elif response.HasField("artifact_update"):
            parts.append(response.artifact_update.artifact)
        elif response.HasField("message"):  # an agent that answers with a message, no task
            return _message_text(response)
    if state != TaskState.TASK_STATE_COMPLETED:
        why = _FAILED.get(state, f"ended in state {TaskState.Name(state)}")
        raise ModelError(f"{name} {why}: {note}".rstrip(": "), kind="other", retryable=False)
    return "\n".join(_artifact_text(a) for a in parts)


def _artifact_text(artifact: Any) -> str:  # Any: a2a's Artifact (protobuf)
    data = get_data_parts(artifact.parts)
    if data:
        return json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False)
    return get_artifact_text(artifact)


def _message_text(response: StreamResponse) -> str:
    return " ".join(p.text for p in response.message.parts if p.HasField("text"))
