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

    The new ``__init__`` is written on the first construction, not at import: compiling it
    costs some 200 us a class, and most of the classes it is given (rare events) are never
    built in a process.

    Raises:
        TypeError: ``cls`` is not such a dataclass (or has fields not set by ``__init__``).
    """
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__qualname__} is not a frozen, slotted dataclass")
    for field in fields(cls):
        if not field.init or not field.kw_only:
            raise TypeError(f"{cls.__qualname__}.{field.name} is not a keyword-only init field")
    original = vars(cls)["__init__"]

    def first_init(self: T, **values: Any) -> None:  # Any: the fields' values
        init = _written_init(cls, original)
        cls.__init__ = init  # pyright: ignore[reportAttributeAccessIssue] - replaced on purpose
        init(self, **values)

    _describe_as(first_init, original)
    cls.__init__ = first_init  # pyright: ignore[reportAttributeAccessIssue] - replaced on purpose
    return cls


def _written_init(cls: type, original: Any) -> Any:  # Any: a function made by exec
    """The ``__init__`` of ``cls`` that fills its slots through their descriptors."""
    scope: dict[str, Any] = {"_MISSING": MISSING}  # Any: defaults and setters of any field
    args: list[str] = []
    body: list[str] = []
    for index, field in enumerate(fields(cls)):
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
    _describe_as(init, original)
    return init


def _describe_as(function: Any, original: Any) -> None:  # Any: functions
    """Give ``function`` the names, annotations and docstring of ``original``."""
    function.__qualname__ = original.__qualname__
    function.__module__ = original.__module__
    function.__annotations__ = original.__annotations__
    function.__doc__ = original.__doc__
