"""Frozen records built fast: ``fast_init`` for the dataclasses made once or more per task.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``
(looked up as a global, then as an attribute, then called), because its own ``__setattr__``
refuses every write. That costs about 100 ns a field: an event of ten fields takes three
times as long to build as the same class unfrozen, and a task builds some twenty such
records (its events, the model request and response, the context write's provenance).

``fast_init`` gives a frozen, slotted, keyword-only dataclass an ``__init__`` that fills each
slot through the slot's own descriptor instead, which any write to a slot comes down to. The
instance is the same (same fields, defaults, factories and ``__post_init__``; still frozen
afterwards) and is built in about half the time.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Replace the ``__init__`` of ``cls``, a ``@dataclass(frozen=True, slots=True,
    kw_only=True)``, by one that sets its slots directly (see the module docstring).

    Raises:
        TypeError: ``cls`` is not such a dataclass (or has fields not set by ``__init__``).
    """
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__qualname__} is not a frozen, slotted dataclass")
    scope: dict[str, Any] = {"_MISSING": MISSING}  # Any: defaults and setters of any field
    args: list[str] = []
    body: list[str] = []
    for index, field in enumerate(fields(cls)):
        if not field.init or not field.kw_only:
            raise TypeError(f"{cls.__qualname__}.{field.name} is not a keyword-only init field")
        name, setter = field.name, f"_set{index}"
        scope[setter] = getattr(cls, name).__set__  # the slot's member descriptor
        value = name
        if field.default is not MISSING:
            scope[f"_default{index}"] = field.default
            args.append(f"{name}=_default{index}")
        elif field.default_factory is not MISSING:
            scope[f"_factory{index}"] = field.default_factory
            args.append(f"{name}=_MISSING")
            value = f"_factory{index}() if {name} is _MISSING else {name}"
        else:
            args.append(name)
        body.append(f"    {setter}(self, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, *, {', '.join(args)}):\n" + ("\n".join(body) or "    pass")
    namespace: dict[str, Any] = {}  # Any: what exec defines
    exec(source, scope, namespace)
    init = namespace["__init__"]
    original = vars(cls)["__init__"]
    init.__qualname__ = original.__qualname__
    init.__module__ = original.__module__
    init.__annotations__ = original.__annotations__
    init.__doc__ = original.__doc__
    cls.__init__ = init  # pyright: ignore[reportAttributeAccessIssue] - replaced on purpose
    return cls
