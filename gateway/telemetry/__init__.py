"""Telemetry: OpenTelemetry traces of every request across the departments, the built-in trace store and page
(``/admin/traces``, ``/admin/tracing``), metrics at ``/metrics`` and JSON logs — all from
``gateway.telemetry.plugin.TelemetryPlugin``.

This package's ``__init__`` imports nothing, so importing one of its modules (``gateway.telemetry.outgoing``, the
tracing fetch hook ``gateway.departments`` installs on department clients) does not pull in the whole gateway."""
