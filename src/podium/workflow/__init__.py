"""Workflows: the graph model, YAML loading with source locations, and validation.

Imports no LLM, HTTP or UI library.
"""

from podium.workflow.model import InputSpec, KeySpec, Workflow

__all__ = ["InputSpec", "KeySpec", "Workflow"]
