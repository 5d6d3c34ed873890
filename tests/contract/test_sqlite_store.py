"""SqliteStore passes the Store contract in memory and on disk, at both durabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.stores.base import Store
from podium.stores.sqlite import SqliteStore
from podium.testing import StoreContract


class TestSqliteStoreInMemory(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        async with SqliteStore(":memory:") as store:
            yield store


class TestSqliteStoreOnDisk(StoreContract):
    @pytest.fixture(params=["normal", "full"])
    async def store(self, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
        async with SqliteStore(tmp_path / "runs" / "podium.db", durability=request.param) as store:
            yield store
