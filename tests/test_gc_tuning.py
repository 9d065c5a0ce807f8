"""The serving process tunes the garbage collector once the app is built."""

from __future__ import annotations

import json
import subprocess
import sys

from gateway.gc_tuning import GC_THRESHOLDS


def test_the_asgi_entry_point_freezes_start_up_objects_and_collects_less_often() -> None:
    code = ("import gc, json; before = gc.get_threshold(); import gateway.asgi; "
            "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "YIWANG_DATABASE_URL": "sqlite://"})
    assert done.returncode == 0, done.stderr
    before, after, frozen = json.loads(done.stdout)
    assert before == [700, 10, 10]
    assert after == list(GC_THRESHOLDS)
    assert frozen > 10_000  # the schema, catalogue and connectors built at start-up
