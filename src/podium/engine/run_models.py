"""The models of one run: which model each agent uses, built once, closed at the end.

The run-wide override (``--model``) wins over an agent's model, which wins over its
workflow's and the root workflow's; a remote (A2A) agent that names a model answers itself.
A workflow's scripted replies (``scripted:``) go to the scripted models it names, less those
a resumed run's log shows were already taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from podium.agent import Agent
from podium.engine.inputs import workflows_in
from podium.event import Event
from podium.models.base import Model
from podium.models.registry import DEFAULT_MODEL, resolve
from podium.models.scripted import Reply, unused_replies
from podium.models.spec import ModelSpec
from podium.workflow.model import Workflow

__all__ = ["RunModels"]

_CLOSE_TIMEOUT = 5.0


class RunModels:
    """Resolves and caches the models of one run.

    Args:
        workflow: the run's (root) workflow.
        override: a model (or model name) that replaces every agent's for this run.
        history: the run's log so far (a resumed run), to skip scripted replies it used.
    """

    def __init__(
        self, workflow: Workflow, override: str | Model | None, history: Sequence[Event] = ()
    ) -> None:
        self._workflow = workflow
        self._override = override
        self._models: dict[str, Model] = {}
        self._canned = _canned(workflow, history)

    def model_choice(self, agent: Agent, workflow: Workflow) -> str | ModelSpec | Model:
        """What names the model an agent uses in this run (the run-wide override wins)."""
        if agent.a2a is not None and agent.model is not None:  # a remote agent answers itself
            return agent.model
        choice = self._override or agent.model or workflow.model or self._workflow.model
        return choice or DEFAULT_MODEL

    def model_for(self, agent: Agent, workflow: Workflow) -> Model:
        """The model an agent uses in this run (the run-wide override wins).

        Raises:
            ConfigError: the agent names a model that does not exist.
        """
        choice = self.model_choice(agent, workflow)
        if not isinstance(choice, str | ModelSpec):
            return choice
        key = choice if isinstance(choice, str) else choice.model_dump_json()
        key = (
            f"{workflow.name}:{key}"
            if isinstance(choice, str) and choice in workflow.models
            else key
        )
        model = self._models.get(key)
        if model is None:
            named = {**self._workflow.models, **workflow.models}
            model = self._models[key] = resolve(choice, named=named, canned=self._canned)
        return model

    async def aclose(self) -> None:
        """Close the models this run built (HTTP clients); models passed in are the caller's."""
        for model in self._models.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await close()


def _canned(workflow: Workflow, history: Sequence[Event]) -> dict[str, list[Reply]]:
    """The workflow's scripted replies, less those the calls in ``history`` already took."""
    canned: dict[str, list[Reply]] = {}
    for current in workflows_in(workflow):
        for key, replies in current.scripted.items():
            canned.setdefault(key, list[Any](replies))
    return unused_replies(canned, history)
