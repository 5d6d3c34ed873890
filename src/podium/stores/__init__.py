"""Stores: where run event logs live. ``base`` holds the protocol; adapters sit beside it."""

from podium.stores.base import Store

__all__ = ["Store"]
