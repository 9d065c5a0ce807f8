"""Department local times: parsed with the zone's offset, exactly what attaching the zone afterwards gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connectors.values import parse_local_time

ZONES = [timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)), UTC,
         ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")]


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize("text", ["2026-10-01 08:00:00", "2026/03/08 02:30:00", "2024-02-29 23:59:59"])
def test_the_same_moment_as_the_zone_attached_afterwards(zone: timezone | ZoneInfo, text: str) -> None:
    parsed = parse_local_time(text, zone)
    reference = datetime.fromisoformat(text.replace("/", "-")).replace(tzinfo=zone)
    assert parsed == reference
    assert parsed.utcoffset() == reference.utcoffset() and parsed.isoformat() == reference.isoformat()


@pytest.mark.parametrize("text", ["2026-13-01 08:00:00", "2026-10-01T08:00:00", "2026-10-01 08:00",
                                  "2026-10/01 08:00:00", "2026-10-01 08:00:00+08", ""])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_local_time(text, timezone(timedelta(hours=8)))
