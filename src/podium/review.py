"""Review: a reviewer's verdict on the work before it, which can send it back.

A plan step whose answer is a ``Review`` with ``approved: false`` rejects the work: the plan
task then re-plans the rest with the feedback (``podium.orchestrator.planning``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from podium.tool import without_docstring

__all__ = ["Review"]


class Review(BaseModel):
    """Whether the work is good enough, and what to fix when it is not."""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    approved: bool
    feedback: str = Field(default="", max_length=1000)
    """What is wrong and what to do about it (empty when approved)."""
