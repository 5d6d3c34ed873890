"""Fixtures of the server tests: ``served`` (a server on a loopback port) and ``client``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from served import TOKEN, Served, serving

from podium.server import ServerConfig
from podium.testing.clock import ManualClock


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    clock = ManualClock()
    config = ServerConfig(
        token=TOKEN,
        store=tmp_path / "runs.db",
        clock=clock,
        poll_interval=timedelta(milliseconds=200),
        rescan_interval=timedelta(days=1),  # the deadline timer sleeps until the deadline
    )
    async with serving(config, clock, tmp_path) as running:
        yield running


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with served.client() as opened:
        yield opened
