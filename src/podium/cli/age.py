"""The AGE that ``podium gc --older-than``, ``runs --since`` and ``metrics --window`` take."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

import typer
from pydantic import TypeAdapter, ValidationError

from podium import Duration

__all__ = ["parse_age"]

_DURATION: Final = TypeAdapter[timedelta](Duration)
_BARE_NUMBER: Final = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` (or ``1d12h``, ISO 8601 ``P30D``) as a positive timedelta.

    Raises:
        typer.BadParameter: it is not a duration with a unit, or not positive.
    """
    problem = f"{text!r}: give an age with a unit, e.g. 30d, 12h or 90m"
    if _BARE_NUMBER.match(text):
        raise typer.BadParameter(problem)
    try:
        age = _DURATION.validate_python(text.strip())
    except ValidationError:
        raise typer.BadParameter(problem) from None
    if age <= timedelta(0):
        raise typer.BadParameter(f"{text!r}: the age must be more than zero")
    return age
