"""Servers the integration tests talk to, started for real on 127.0.0.1.

- ``llama_server``: llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``)
  running the embedded SmolLM2-135M-Instruct, prompts rendered with the chat template in its
  GGUF file (so no ``--chat_format`` is needed). It serves one model whatever name is asked for.
- ``llama_tools_server``: the same with ``--chat_format chatml-function-calling``, the
  llama-cpp-python format that implements ``tools`` (SmolLM2 speaks ChatML).
- ``stub_openai``: a small HTTP server that answers ``POST /v1/chat/completions`` with the replies
  a test queues (status, headers, a JSON body or server-sent events) and records the requests,
  for what the llama server never does: 404 for an unknown model, 429, 500, streamed tool calls.
- ``refused_port``: a port bound with nothing listening on it: connections are refused.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podium.models.local import _default_model_path  # pyright: ignore[reportPrivateUsage]

_STARTUP_DEADLINE_S = 60.0
_STOP_DEADLINE_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Poll ``GET /models`` until the server answers, it exits, or the deadline passes."""
    deadline = time.monotonic() + _STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"llama server exited with {process.returncode}:\n{_log_tail(log)}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet
            pass
        time.sleep(0.1)  # polling interval, not an assertion
    msg = f"llama server not ready after {_STARTUP_DEADLINE_S:g} s:\n{_log_tail(log)}"
    raise RuntimeError(msg)


_SERVER_WITH_PLAIN_BUFFERS = """
import runpy
from podium.models.local import _no_extra_buffers
with _no_extra_buffers():
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
"""``python -m llama_cpp.server`` with the model's weights in plain CPU buffers, as
``LocalModel`` loads them: llama.cpp's AMX buffers crash the embedded model's first decode on a
CPU with AMX."""


@contextmanager
def _llama_server(log_dir: Path, *extra_args: str) -> Generator[str, None, None]:
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        _SERVER_WITH_PLAIN_BUFFERS,
        "--model",
        str(_default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--model_alias",
        "smollm2",
        *extra_args,
    ]
    log = log_dir / f"llama-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        _wait_until_ready(process, base_url, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=_STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_DEADLINE_S)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of llama-cpp-python's server running SmolLM2."""
    with _llama_server(tmp_path_factory.mktemp("llama")) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def llama_tools_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a llama-cpp-python server whose chat format implements ``tools``."""
    log_dir = tmp_path_factory.mktemp("llama-tools")
    with _llama_server(log_dir, "--chat_format", "chatml-function-calling") as base_url:
        yield base_url


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reply:
    status: int
    body: Any  # Any: a JSON document
    events: tuple[Any, ...] | None  # Any: JSON documents sent as `data:` lines
    headers: dict[str, str]
    hold: bool


class StubOpenAI:
    """An OpenAI-shaped HTTP server on 127.0.0.1 that answers with queued replies."""

    def __init__(self) -> None:
        self.replies: deque[_Reply] = deque()
        self.requests: list[dict[str, Any]] = []  # Any: JSON request bodies
        self.released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def reply(
        self,
        status: int = 200,
        body: Any = None,  # Any: a JSON document
        *,
        events: tuple[Any, ...] | None = None,  # Any: JSON documents
        headers: dict[str, str] | None = None,
        hold: bool = False,
    ) -> None:
        """Queue the answer to the next request not yet answered.

        Args:
            status: the HTTP status.
            body: the JSON body.
            events: send these as server-sent events (then ``data: [DONE]``) instead of ``body``.
            headers: extra response headers.
            hold: answer only when the test ends, so the client runs into its own deadline.
        """
        reply = _Reply(status=status, body=body, events=events, headers=headers or {}, hold=hold)
        self.replies.append(reply)

    def __enter__(self) -> StubOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=_STOP_DEADLINE_S)


def _handler_for(stub: StubOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            stub.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            reply = stub.replies.popleft() if stub.replies else _UNEXPECTED
            if reply.hold:
                stub.released.wait(timeout=_STOP_DEADLINE_S)
            if reply.events is None:
                payload = json.dumps(reply.body).encode()
                content_type = "application/json"
            else:
                lines = [f"data: {json.dumps(event)}\n\n" for event in reply.events]
                payload = "".join([*lines, "data: [DONE]\n\n"]).encode()
                content_type = "text/event-stream"
            self.send_response(reply.status)
            for name, value in {"Content-Type": content_type, **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

    return Handler


_UNEXPECTED = _Reply(
    status=500,
    body={"error": {"message": "stub: no reply queued", "type": "server_error"}},
    events=None,
    headers={},
    hold=False,
)


@pytest.fixture
def stub_openai() -> Iterator[StubOpenAI]:
    """A running ``StubOpenAI``; queue its answers with ``stub_openai.reply(...)``."""
    with StubOpenAI() as stub:
        yield stub
