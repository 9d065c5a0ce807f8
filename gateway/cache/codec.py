"""Exact round-trips of connector answers through orjson: records, queries, enums, dates and tuples come back as the
same types they went in as. Values of any other type are refused (``Uncacheable``) rather than approximated."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

import orjson

from connectors import records
from connectors.deferred import DeferredComponentRecord
from connectors.statistics import RegionStats
from gateway.exceptions import UpstreamError

RECORD_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    records.ComponentRecord, records.EventRecord, records.AlertRecord, records.Organization, records.SearchPage,
    RegionStats, records.ComponentQuery, records.EventQuery, records.AlertQuery, records.BBox, records.Near,
)}
ENUM_TYPES: dict[str, type[Enum]] = {cls.__name__: cls for cls in (
    records.ComponentStatus, records.EventStatus, records.EventSource, records.EventKind, records.AlertLevel,
)}
_FIELDS: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in dataclasses.fields(cls))
                                         for cls in RECORD_TYPES.values()}
_PLAIN = (str, int, bool, type(None))


class Uncacheable(TypeError):
    """The value holds something the codec cannot restore exactly."""


def to_plain(value: Any) -> Any:
    """A JSON tree with tagged objects: ``{"$r": [type, [fields…]]}``, ``{"$e": [enum, value]}``, ``{"$dt": iso}``,
    ``{"$d": iso}``, ``{"$f": "nan"}``, ``{"$t": [items]}``, ``{"$m": {str: value}}``, ``{"$kv": [[key, value]…]}``."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    encode = _ENCODERS.get(kind)
    if encode is not None:
        return encode(value)
    if isinstance(value, Enum) and kind.__name__ in ENUM_TYPES:
        return {"$e": [kind.__name__, value.value]}
    if kind in _FIELDS:
        return {"$r": [kind.__name__, [to_plain(getattr(value, name)) for name in _FIELDS[kind]]]}
    if isinstance(value, DeferredComponentRecord):  # cached fully translated, restored as a plain record
        try:
            resolved = value.resolved()
        except UpstreamError as exc:  # a field the department sent garbled: served (it fails alone), not cached
            raise Uncacheable(f"record {value.id}: {exc.detail}") from exc
        return to_plain(resolved)
    if isinstance(value, Mapping):
        return _mapping(value)
    raise Uncacheable(f"cannot cache a {kind.__name__}")


def _mapping(value: Mapping[Any, Any]) -> Any:
    if all(type(key) is str for key in value):
        return {"$m": {key: to_plain(item) for key, item in value.items()}}
    return {"$kv": [[to_plain(key), to_plain(item)] for key, item in value.items()]}


def _float(value: float) -> Any:
    return value if math.isfinite(value) else {"$f": repr(value)}  # JSON has no NaN or infinity


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    float: _float,
    list: lambda value: [to_plain(item) for item in value],
    tuple: lambda value: {"$t": [to_plain(item) for item in value]},
    dict: _mapping,
    datetime: lambda value: {"$dt": value.isoformat()},
    date: lambda value: {"$d": value.isoformat()},
}


def from_plain(value: Any) -> Any:
    if type(value) is list:
        return [from_plain(item) for item in value]
    if type(value) is not dict:
        return value
    (tag, body), = value.items()
    if tag == "$r":
        cls = RECORD_TYPES[body[0]]
        return cls(**dict(zip(_FIELDS[cls], (from_plain(item) for item in body[1]), strict=True)))
    if tag == "$e":
        return ENUM_TYPES[body[0]](body[1])
    if tag == "$dt":
        return datetime.fromisoformat(body)
    if tag == "$d":
        return date.fromisoformat(body)
    if tag == "$f":
        return float(body)
    if tag == "$t":
        return tuple(from_plain(item) for item in body)
    if tag == "$m":
        return {key: from_plain(item) for key, item in body.items()}
    if tag == "$kv":
        return {from_plain(key): from_plain(item) for key, item in body}
    raise ValueError(f"unknown tag {tag!r} in a cached value")


def dumps(value: Any) -> bytes:
    return orjson.dumps(to_plain(value))


def loads(data: bytes) -> Any:
    return from_plain(orjson.loads(data))


def canonical(value: Any) -> bytes:
    """Stable bytes for a key: the same request always gives the same bytes."""
    return orjson.dumps(to_plain(value), option=orjson.OPT_SORT_KEYS)
