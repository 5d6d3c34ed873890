"""configure_tracing: nothing without an endpoint; a clear warning without the otel extra."""

from __future__ import annotations

import sys

import pytest

from podium.telemetry.setup import configure_tracing


def test_without_an_endpoint_nothing_is_set_up() -> None:
    assert configure_tracing({}) is False


def test_an_endpoint_without_the_otel_extra_warns_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}
    assert configure_tracing(env) is False
    assert 'pip install "podium[otel]"' in caplog.text
