"""Secrets never reach the store, the log output, ``podium show`` or ``--json``.

A planted secret reaches a run three ways: an input read from an environment variable
(``env:``), an API key variable, and a tool that returns the secret, logs it and fails with
it in its error. After the run and its replay, the secret appears nowhere in the store's
file, in anything the CLI printed, or in its log lines, while the run did use it.
"""

from __future__ import annotations

import json

import pytest
from podium_cli import PodiumCli

SECRET = "sk-planted-7c1f9e2d4b"
API_KEY = "key-also-planted-93ab"

FLOW = """\
name: leaky
model: scripted
inputs:
  token: {env: SUPPORT_TOKEN}
agents:
  caller:
    instructions: You call the support API.
    tools: [leak:reveal]
tasks:
  - {id: call, agent: caller, instruction: "Call the API with {{ token }}"}
  - {id: echo, agent: caller, needs: [call], instruction: "Say {{ token }}"}
scripted:
  call: [{tool_call: {name: reveal, arguments: {}}}, "called"]
  echo: ["The token is SECRET and the key is API_KEY"]
""".replace("SECRET", SECRET).replace("API_KEY", API_KEY)

LEAK = '''\
import logging
import os


def reveal() -> str:
    """Return the token, after logging it (as careless tools do)."""
    token = os.environ["SUPPORT_TOKEN"]
    logging.getLogger("leak").warning("using token %s", token)
    return f"token={token}"
'''


@pytest.fixture
def cli(tmp_path: object) -> PodiumCli:
    cli = PodiumCli(tmp_path)  # type: ignore[arg-type]
    cli.env |= {"SUPPORT_TOKEN": SECRET, "ACME_API_KEY": API_KEY, "PODIUM_LOG_LEVEL": "INFO"}
    cli.write("leak.py", LEAK)
    cli.write("leaky.yaml", FLOW)
    return cli


def test_a_planted_secret_is_in_no_event_no_output_and_no_log_line(cli: PodiumCli) -> None:
    run = cli("run", "leaky.yaml", "--json")
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    printed = [
        run,
        cli("show", run_id),
        cli("show", run_id, "--json"),
        cli("runs", "--json"),
        cli("replay", run_id, "--json"),
    ]

    store_bytes = b"".join(p.read_bytes() for p in cli.dir.glob("runs.db*"))
    assert store_bytes, "the run was recorded"
    for secret in (SECRET, API_KEY):
        assert secret.encode() not in store_bytes
        for result in printed:
            assert secret not in result.stdout + result.stderr, result.args
    assert "using token [redacted]" in run.stderr  # the tool's log line, masked
    events = json.loads(printed[2].stdout)
    assert "[redacted]" in json.dumps(events)  # the secret was there, and was masked
