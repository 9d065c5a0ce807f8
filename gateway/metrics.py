"""Prometheus metrics in the text exposition format, with no dependency: counters and histograms with labels.

Plugins register their metrics on the app's ``MetricsRegistry``; ``/metrics`` renders them all.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

DEFAULT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A metric keeps at most this many label combinations; later new ones are counted under OVERFLOW_LABEL in every
# label, so that no stream of requests can grow /metrics without bound (callers bound their labels first).
DEFAULT_MAX_SERIES = 1000
OVERFLOW_LABEL = "other"


def _series_key(metric: Counter | Histogram, labels: tuple[object, ...], existing: dict[tuple[str, ...], Any],
                ) -> tuple[str, ...]:
    key = tuple(value if type(value) is str else str(value) for value in labels)
    if key in existing or len(existing) < metric.max_series:
        return key
    return (OVERFLOW_LABEL,) * len(key)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Counter:
    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (),
                 max_series: int = DEFAULT_MAX_SERIES) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self.max_series = max_series
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        key = labels if labels in self.values else _series_key(self, labels, self.values)
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in sorted(self.values.items())]
        return lines


class Histogram:
    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS_S, max_series: int = DEFAULT_MAX_SERIES) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        self.max_series = max_series
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}

    def observe(self, value: float, *labels: str) -> None:
        key = labels if labels in self.counts else _series_key(self, labels, self.counts)
        counts = self.counts.setdefault(key, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[key] = self.sums.get(key, 0.0) + value

    def count(self, *labels: str) -> int:
        return sum(self.counts.get(labels, ()))

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self.counts.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == math.inf else f"{bound:g}"
                bucket_labels = _labels(self.label_names, key, 'le="' + le + '"')
                lines.append(f"{self.name}_bucket{bucket_labels} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {self.sums[key]:g}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {cumulative}")
        return lines


class MetricsRegistry:
    def __init__(self) -> None:
        self.metrics: dict[str, Counter | Histogram] = {}

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        return self._register(Counter(name, help_text, labels))  # type: ignore[return-value]

    def histogram(self, name: str, help_text: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = DEFAULT_BUCKETS_S) -> Histogram:
        return self._register(Histogram(name, help_text, labels, buckets))  # type: ignore[return-value]

    def _register(self, metric: Counter | Histogram) -> Counter | Histogram:
        existing = self.metrics.get(metric.name)
        if existing is not None:
            if type(existing) is not type(metric) or existing.label_names != metric.label_names:
                raise ValueError(f"metric {metric.name} is already registered differently")
            return existing
        self.metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        return "\n".join(line for metric in self.metrics.values() for line in metric.render()) + "\n"
