"""How often the fast paths (gateway/fastpaths.py) handed work to the plain path they stand in for.

One process-wide counter, ``yiwang_fast_path_fallbacks_total{path, reason}``: the fast paths are process-wide too
(a patched graphql-core function, compiled completers shared by every schema), and every app built in the process
shows it on its ``/metrics``. A path that falls back once at start (its private names are gone) also logs a warning.
"""

from __future__ import annotations

import logging

from gateway.metrics import Counter, MetricsRegistry

FALLBACKS = Counter("yiwang_fast_path_fallbacks_total",
                    "Work a fast path handed to the plain path it stands in for, by fast path and reason",
                    ("path", "reason"))
logger = logging.getLogger("yiwang.fastpaths")


def fell_back(path: str, reason: str) -> None:
    FALLBACKS.inc(path, reason)


def unavailable(path: str, setting: str, error: BaseException) -> None:
    """A fast path that cannot be used at all with the versions installed: logged and counted once per attempt."""
    logger.warning("fast path %s unavailable (%s: %s); using the plain path. Set YIWANG_%s=false to silence this.",
                   path, type(error).__name__, error, setting.upper())
    fell_back(path, "unavailable")


def register_metrics(registry: MetricsRegistry) -> None:
    registry.metrics.setdefault(FALLBACKS.name, FALLBACKS)
