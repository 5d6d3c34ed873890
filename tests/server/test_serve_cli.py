"""``podium serve`` in its own process: what it prints, and what it refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

DEADLINE_S = 60


def _serve(tmp_path: Path, *args: str, token: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PODIUM_TOKEN"}
    env["PODIUM_STORE"] = str(tmp_path / "runs.db")
    if token is not None:
        env["PODIUM_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "podium", "serve", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _list_runs(url: str, token: str) -> object:
    request = urllib.request.Request(f"{url}/v1/runs", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=DEADLINE_S) as reply:
        return json.load(reply)


def test_it_refuses_a_non_loopback_address_without_a_token(tmp_path: Path) -> None:
    process = _serve(tmp_path, "--host", "0.0.0.0", "--port", "0")
    out, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in err
    assert "dashboard" not in out


def test_it_prints_the_url_and_a_generated_token_and_serves(tmp_path: Path) -> None:
    process = _serve(tmp_path, "--port", "0")
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        dashboard = next(line for line in lines if line.startswith("dashboard:"))
        url, _, token = dashboard.split()[1].partition("/#token=")
        assert url.startswith("http://127.0.0.1:") and len(token) >= 40
        assert any(f"token:     {token}  (generated" in line for line in lines)
        assert _list_runs(url, token) == []
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 130  # stopped by Ctrl-C, as the shell reports it
    assert token not in err  # the log never holds it


@pytest.mark.parametrize("given", ["from-the-environment-4471"])
def test_a_token_from_the_environment_is_used(tmp_path: Path, given: str) -> None:
    process = _serve(tmp_path, "--host", "0.0.0.0", "--port", "0", token=given)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        assert any(f"token:     {given}  (as given)" in line for line in lines)
        dashboard = next(line for line in lines if line.startswith("dashboard:"))
        port = dashboard.split()[1].partition("/#")[0].rpartition(":")[2]
        # Stop it once it serves (its socket listens before it prints, so this waits for
        # the server, not for time): Ctrl-C during start-up is another test's matter.
        assert _list_runs(f"http://127.0.0.1:{port}", given) == []
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 130
