"""Models: the ``Model`` protocol and its implementations, reached by name through ``resolve``.

``base`` holds the protocol and imports no LLM library. Adapters are imported lazily, only
when a workflow names them, so ``import podium`` stays light.
"""

from __future__ import annotations

from podium.models.base import Model, ModelRequest, ModelResponse
from podium.models.registry import resolve
from podium.models.scripted import ScriptedModel

__all__ = ["Model", "ModelRequest", "ModelResponse", "ScriptedModel", "resolve"]
