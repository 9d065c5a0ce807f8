"""Telemetry: OpenTelemetry traces of every request across the departments, the built-in trace store and page
(``/admin/traces``, ``/admin/tracing``), metrics at ``/metrics`` and JSON logs — all from
``gateway.telemetry.plugin.TelemetryPlugin``.

This package's ``__init__`` imports nothing: ``connectors.http`` imports ``gateway.telemetry.outgoing`` and must not
pull in the gateway (which imports the connectors)."""
