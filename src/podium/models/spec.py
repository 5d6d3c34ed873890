"""ModelSpec: which model an agent uses, as data (YAML or Python), and how names parse.

A model is named by a string or described by a mapping:

```yaml
model: local                          # the embedded SmolLM2-135M-Instruct (the default)
model: local:/models/qwen2.5-0.5b.gguf
model: scripted                       # canned answers, offline and instant
model: openai:gpt-4o-mini             # OpenAI, key from OPENAI_API_KEY
model: anthropic:claude-3-5-haiku-latest    # key from ANTHROPIC_API_KEY
model:                                # any OpenAI-compatible server: vLLM, Ollama, LM Studio...
  provider: openai
  name: qwen2.5:7b
  base_url: http://127.0.0.1:11434/v1
  api_key_env: OLLAMA_API_KEY         # optional for local servers
  price: {input_per_mtok: 0, output_per_mtok: 0}
```

A workflow may also name specs once under ``models:`` and agents refer to them by name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Price", "ModelSpec", "Provider", "parse_model_name"]

Provider = Literal["local", "scripted", "openai", "anthropic"]


class Price(BaseModel):
    """US dollars per million input and output tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class ModelSpec(BaseModel):
    """How to reach one model."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    provider: Provider
    name: str | None = None
    """The provider's model name (a GGUF path for ``local``)."""
    base_url: str | None = None
    """For ``openai``: any OpenAI-compatible server; for ``anthropic``: another endpoint."""
    api_key_env: str | None = None
    """The environment variable holding the API key (never the key itself)."""
    timeout: timedelta = timedelta(seconds=120)
    """Deadline of one call, streaming included."""
    price: Price | None = None
    """Overrides the built-in price table (``podium.models.pricing``)."""
    latency: timedelta = timedelta(0)
    """``scripted`` only: the time each answer takes, to try a workflow's timing offline."""


def parse_model_name(name: str) -> ModelSpec:
    """``provider[:name]`` -> ``ModelSpec``; a bare ``local`` or ``scripted`` needs no name.

    Raises:
        ValueError: the provider is unknown or a hosted provider lacks a model name.
    """
    provider, _, model = name.partition(":")
    if provider not in ("local", "scripted", "openai", "anthropic"):
        msg = (
            f"unknown model {name!r}: use local, local:PATH.gguf, scripted, openai:MODEL "
            "or anthropic:MODEL (or a mapping with provider, name and base_url)"
        )
        raise ValueError(msg)
    if provider in ("openai", "anthropic") and not model:
        raise ValueError(f"model {name!r} needs a model name: {provider}:MODEL")
    return ModelSpec(provider=provider, name=model or None)  # type: ignore[arg-type]  # checked
