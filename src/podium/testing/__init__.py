"""Test support for podium and its plugins: contract suites, sample logs, fake time.

``StoreContract`` is the suite every ``Store`` runs; ``sample_events`` builds a run's log with
one event of each kind. The contract module imports pytest, so it is loaded on first use
(module ``__getattr__``) and ``import podium.testing`` works without the ``test`` extra.

This package may import the core (``podium.*``) but nothing from ``cli`` or ``server``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podium.testing.store_contract import StoreContract, sample_events

__all__ = ["StoreContract", "sample_events"]

_LAZY = {
    "StoreContract": "podium.testing.store_contract",
    "sample_events": "podium.testing.store_contract",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'podium.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
