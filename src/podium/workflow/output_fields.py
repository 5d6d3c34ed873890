"""Output schemas written as fields in YAML (``output_schema: {title: str}``) become models.

A field is a type name (``str``, ``list[int]``...) or a mapping of ``type``, ``enum``,
``description`` and ``default``; ``output_model`` builds the pydantic model the agent's
answers are validated against.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from podium.workflow.yaml_path import items, mapping

__all__ = ["field_definition", "output_model"]

_TYPES: dict[str, Any] = {  # Any: values are type forms handed to create_model
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list[str]": list[str],
    "list[int]": list[int],
    "list[float]": list[float],
    "list[bool]": list[bool],
    "list[dict]": list[dict[str, JsonValue]],
    "dict": dict[str, JsonValue],
}
_ENUM_VALUES: dict[str | None, tuple[type, ...]] = {
    None: (str, int, float, bool),
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}
_FIELD_KEYS = ("type", "enum", "description", "default")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def field_definition(name: str, data: object) -> tuple[Any, Any]:  # Any: type form, FieldInfo
    """The annotation and ``Field`` of one field written in YAML.

    Raises:
        ValueError: the field is not a known type, enum or mapping of ``_FIELD_KEYS``.
    """
    if not _FIELD_NAME.match(name):
        raise ValueError(
            f"field name {name!r} must be letters, digits and _, starting with a letter"
        )
    spec = {"type": data} if isinstance(data, str) else mapping(data)
    if spec is None:
        msg = f"field {name!r}: write a type ({', '.join(_TYPES)}) or a mapping of {_FIELD_KEYS}"
        raise ValueError(msg)
    unknown = sorted(str(k) for k in spec if k not in _FIELD_KEYS)
    if unknown:
        raise ValueError(f"field {name!r}: unknown keys {unknown}; a field takes {_FIELD_KEYS}")
    default: object = spec.get("default", ...)
    description: object = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise ValueError(f"field {name!r}: description must be text")
    return _annotation(name, spec), Field(default, description=description)


def _annotation(name: str, spec: dict[str, Any]) -> Any:  # Any: raw YAML data; a type form
    type_name = spec.get("type")
    if type_name is not None and (not isinstance(type_name, str) or type_name not in _TYPES):
        raise ValueError(
            f"field {name!r}: unknown type {type_name!r}; use one of {', '.join(_TYPES)}"
        )
    enum = spec.get("enum")
    if enum is None:
        if type_name is None:
            raise ValueError(f"field {name!r} needs a type or an enum")
        return _TYPES[type_name]
    if type_name not in _ENUM_VALUES:
        raise ValueError(f"field {name!r}: an enum is a list of str, int, float or bool values")
    values = items(enum)
    if not values:
        raise ValueError(f"field {name!r}: enum must be a non-empty list of values")
    allowed = _ENUM_VALUES[type_name]
    for value in values:
        if type(value) not in allowed:
            hint = (
                " (quote it: YAML reads yes/no/on/off as booleans)" if type(value) is bool else ""
            )
            raise ValueError(f"field {name!r}: enum value {value!r} is not a {type_name}{hint}")
    return Literal[tuple(values)]  # pyright: ignore[reportInvalidTypeForm] - built from the YAML


def output_model(name: str, definitions: dict[str, Any]) -> type[BaseModel]:  # Any: field defs
    """The model called ``name`` with the fields ``field_definition`` made.

    Raises:
        ValueError: pydantic cannot build it (a field name that shadows a model attribute).
    """
    config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a field name that shadows a BaseModel attribute
        try:
            return create_model(name, __config__=config, **definitions)
        except (UserWarning, TypeError, NameError, ValueError) as exc:
            raise ValueError(f"cannot build the output schema: {exc}") from exc
