"""Time a test owns: a clock that moves only when the test moves it, and the gateway's plugins wired to it."""

from __future__ import annotations

import time

from gateway.app import build_plugins
from gateway.cache.plugin import CachePlugin
from gateway.plugins import Plugin
from gateway.settings import Settings


class ManualClock:
    """Starts at the wall time (cache entries on Redis carry wall times) and moves only by ``advance``."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def plugins_on_clock(settings: Settings, clock: ManualClock) -> list[Plugin]:
    """The plugins ``settings`` turn on, as ``create_app`` builds them, with the cache reading time from ``clock``."""
    return [CachePlugin(settings, clock=clock) if isinstance(plugin, CachePlugin) else plugin
            for plugin in build_plugins(settings)]
