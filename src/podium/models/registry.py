"""Model names and specs -> models, imported lazily so an unused adapter costs nothing.

Names: ``local`` (the embedded SmolLM2-135M-Instruct, the default), ``local:PATH.gguf``,
``scripted`` (canned or made-up answers, offline and instant), ``openai:MODEL`` and
``anthropic:MODEL``; or a ``ModelSpec`` (see ``podium.models.spec``) for any OpenAI-compatible
server. Adapters for hosted providers need their extra (``pip install "podium[openai]"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from podium.errors import ConfigError
from podium.models.base import Model
from podium.models.scripted import Reply, ScriptedModel
from podium.models.spec import ModelSpec, parse_model_name

__all__ = ["DEFAULT_MODEL", "resolve"]

DEFAULT_MODEL = "local"


def resolve(
    model: str | ModelSpec,
    *,
    named: Mapping[str, ModelSpec] | None = None,
    canned: Mapping[str, Sequence[Reply]] | None = None,
) -> Model:
    """Build the model a name or spec describes.

    Args:
        model: a model name, a name from ``named``, or a spec.
        named: the workflow's ``models:`` section.
        canned: per-task answers for the scripted model (a workflow's ``scripted`` section).

    Raises:
        ConfigError: no model has that name, or its adapter's extra is not installed.
    """
    spec = _spec(model, named or {})
    if spec.provider == "scripted":
        return ScriptedModel.plausible(canned, latency=spec.latency)
    try:
        if spec.provider == "local":
            from podium.models.local import LocalModel

            return LocalModel(spec.name)
        if spec.provider == "openai":
            from podium.models.openai_compat import OpenAICompatModel

            return OpenAICompatModel(spec)
        from podium.models.anthropic import AnthropicModel

        return AnthropicModel(spec)
    except ImportError as exc:
        raise ConfigError(str(exc)) from exc


def _spec(model: str | ModelSpec, named: Mapping[str, ModelSpec]) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if model in named:
        return named[model]
    try:
        return parse_model_name(model)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
