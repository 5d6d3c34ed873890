"""Every store passes the Store contract: SQLite in memory and on disk at both durabilities,
and PostgreSQL (skipped, saying why, where no server answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.stores.base import Store
from podium.stores.postgres import PostgresStore
from podium.stores.sqlite import SqliteStore
from podium.testing import StoreContract


class TestStore(StoreContract):
    @pytest.fixture(params=["sqlite-memory", "sqlite-normal", "sqlite-full", "postgres"])
    async def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
        kind: str = request.param
        if kind == "postgres":
            opened: Store = PostgresStore(request.getfixturevalue("postgres_url"))
        elif kind == "sqlite-memory":
            opened = SqliteStore(":memory:")
        else:
            durability = "full" if kind == "sqlite-full" else "normal"
            opened = SqliteStore(tmp_path / "runs" / "podium.db", durability=durability)
        try:
            yield opened
        finally:
            await opened.aclose()
