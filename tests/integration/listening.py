"""Start a server process on a free port of 127.0.0.1 and wait until it listens."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def listening(
    command: list[str], port: int, *, log: Path, env: Mapping[str, str], cwd: Path | None = None
) -> Iterator[None]:
    """Run ``command`` until the block ends; enter the block once ``port`` accepts."""
    with log.open("w") as errors:
        process = subprocess.Popen(command, env=dict(env), stderr=errors, cwd=cwd)
        try:
            for _ in range(600):  # a readiness poll with a deadline, not a timing assertion
                if process.poll() is not None:
                    raise RuntimeError(f"{command[:3]} exited: {log.read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    subprocess.run(["sleep", "0.1"], check=True)
            else:
                raise RuntimeError(f"{command[:3]} did not listen within a minute")
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)
