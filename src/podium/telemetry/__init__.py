"""Observability: trace spans from a run's events, and logs that carry run and task ids.

``names`` holds every span and attribute name; ``tracing`` turns a run's events into one
OpenTelemetry trace (API only); ``logs`` has the logging contextvars, filter and formatters;
``setup`` installs an SDK exporter for the CLI when the ``otel`` extra is present;
``metrics`` computes metrics from run event logs.
"""
