"""Model names -> models, imported lazily so an unused adapter costs nothing.

Names: ``local`` (the embedded SmolLM2-135M-Instruct, the default), ``local:PATH.gguf`` (another
local GGUF file), ``scripted`` (canned or made-up answers, offline and instant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from podium.errors import ConfigError
from podium.models.base import Model
from podium.models.scripted import Reply, ScriptedModel

__all__ = ["DEFAULT_MODEL", "resolve"]

DEFAULT_MODEL = "local"


def resolve(name: str, *, canned: Mapping[str, Sequence[Reply]] | None = None) -> Model:
    """Build the model called ``name``.

    Args:
        name: a model name (see the module docstring).
        canned: per-task answers for the scripted model (a workflow's ``scripted`` section).

    Raises:
        ConfigError: no model has that name.
    """
    kind, _, rest = name.partition(":")
    if kind == "scripted":
        return ScriptedModel.plausible(canned)
    if kind == "local":
        from podium.models.local import LocalModel

        return LocalModel(rest or None)
    msg = (
        f"unknown model {name!r}: use 'local' (embedded, offline), 'local:PATH.gguf' "
        "or 'scripted' (canned answers, for trying a workflow)"
    )
    raise ConfigError(msg)
