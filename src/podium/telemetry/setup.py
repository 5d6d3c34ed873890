"""Tracing for the CLI: an OTLP exporter when ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set.

The library never installs a tracer provider (``podium.arun`` traces into whatever provider
the application set up); the ``podium`` command does it here, if the ``otel`` extra
(``opentelemetry-sdk``, ``opentelemetry-exporter-otlp-proto-http``) is installed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

__all__ = ["ENDPOINT_VARIABLES", "configure_tracing"]

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def configure_tracing(environ: Mapping[str, str] | None = None) -> bool:
    """Install a global SDK tracer provider exporting over OTLP/HTTP, if an endpoint is set.

    Returns whether tracing was set up. With an endpoint but without the ``otel`` extra,
    logs a warning saying how to install it.
    """
    environ = os.environ if environ is None else environ
    if not any(environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        logger.warning(
            "an OTLP endpoint is set but tracing needs the otel extra (%s): "
            'pip install "podium[otel]"',
            exc,
        )
        return False
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "podium"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint from env
    trace.set_tracer_provider(provider)
    return True
