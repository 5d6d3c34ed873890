"""Fixtures every test directory may use.

- every test gets its own default store: ``podium.run`` without ``store=``, ``SqliteStore()``
  and the CLI without ``--store`` use ``PODIUM_STORE`` first, and it points into the test's
  own temporary directory (subprocesses inherit it), so no test writes into the user's data
  directory;
- ``postgres_url``: a PostgreSQL database URL whose ``schema`` parameter names a schema of its
  own (dropped afterwards), so tests never see each other's runs. The server is the one at
  127.0.0.1:5432 (trust auth, database ``test``) that this project's machines and CI run, or
  the one ``PODIUM_TEST_POSTGRES`` names; where none answers the test is skipped, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import psycopg
import pytest
from psycopg import sql

_DEFAULT_SERVER: Final = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of a PostgreSQL server that answers (the test is skipped where none does)."""
    url = os.environ.get("PODIUM_TEST_POSTGRES") or _DEFAULT_SERVER
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        pytest.skip(
            f"no PostgreSQL server answers at {url} ({reason}); start one there, or name "
            "another in PODIUM_TEST_POSTGRES"
        )
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """``postgres_server`` with a fresh schema of this test's own, dropped afterwards."""
    schema = f"podium_test_{uuid.uuid4().hex[:12]}"
    yield f"{postgres_server}?schema={schema}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(autouse=True)
def _default_store_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "default-store.db"))
