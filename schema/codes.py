"""National codes: 部件标识码, 单元网格, GB/T 2260 division codes and the class catalogue.

The catalogue is data (``catalogue.json``, replaceable through ``YIWANG_CATALOGUE_PATH``) because class codes after
0127 and the 21 local-extension 大类 vary by city.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from connectors.values import is_ascii_digits

COMPONENT_ID_LENGTH = 16
GRID_CODE_LENGTH = 15
REGION_CODE_LENGTH = 6
NATIONAL_REGION_CODE = "000000"
# GB/T 2260 province-level divisions: the first two digits of every division code.
PROVINCE_CODES = frozenset((
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
))
DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")


@dataclass(frozen=True, slots=True)
class ClassEntry:
    """One 小类 of the catalogue with its 大类."""

    code: str
    name: str
    major_code: str
    major_name: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    components: dict[str, ClassEntry]
    events: dict[str, ClassEntry]

    def component_class(self, code: str) -> ClassEntry | None:
        return self.components.get(code)

    def event_class(self, code: str) -> ClassEntry | None:
        return self.events.get(code)


def _entries(classes: dict[str, str], majors: dict[str, str]) -> dict[str, ClassEntry]:
    return {
        code: ClassEntry(code=code, name=name, major_code=code[:2], major_name=majors.get(code[:2], ""))
        for code, name in classes.items()
    }


@lru_cache(maxsize=4)
def load_catalogue(path: str | None = None) -> Catalogue:
    source = Path(path or os.environ.get("YIWANG_CATALOGUE_PATH") or DEFAULT_CATALOGUE_PATH)
    raw = json.loads(source.read_text(encoding="utf-8"))
    return Catalogue(
        components=_entries(raw["componentClasses"], raw["componentMajors"]),
        events=_entries(raw["eventClasses"], raw["eventMajors"]),
    )


def is_region_code(value: str) -> bool:
    """A GB/T 2260 division code: 6 digits (2 province + 2 prefecture + 2 county)."""
    return len(value) == REGION_CODE_LENGTH and is_ascii_digits(value)


def is_region_prefix(value: str) -> bool:
    """A region filter: 2, 4 or 6 leading digits of a division code (province, city, county scope)."""
    return len(value) in (2, 4, 6) and is_ascii_digits(value)


def division_problem(code: str) -> str | None:
    """Why a 6-digit code is not a GB/T 2260 division (000000 the country, a province, a city or a county), or
    None. Only the structure is checked: the list of cities and counties changes every year."""
    if not is_region_code(code):
        return "not 6 digits (0-9)"
    if code == NATIONAL_REGION_CODE:
        return None
    if code[:2] not in PROVINCE_CODES:
        return f"{code[:2]} is not a GB/T 2260 province (11 北京 … 65 新疆, 71, 81, 82)"
    if code[2:4] == "00" and code[4:] != "00":
        return "a county code has the code of its city in digits 3-4, never 00"
    return None


def local_division_problem(code: str) -> str | None:
    """Why a 6-digit code cannot be the division of a component or grid cell (a county, or a city without
    counties such as 东莞 441900), or None."""
    problem = division_problem(code)
    if problem is None and code[2:4] == "00":
        return "it names a province or the country, not a county or city"
    return problem


def region_prefix(code: str) -> str:
    """The significant prefix of a division code: 000000 -> '' (the country), 370000 -> 37, 370800 -> 3708,
    370811 -> 370811."""
    if code == NATIONAL_REGION_CODE:
        return ""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def is_grid_code(value: str) -> bool:
    """A 15-digit 单元网格 code: 6 county + 3 street + 2 community + 4 sequence."""
    return len(value) == GRID_CODE_LENGTH and is_ascii_digits(value)


def is_component_id(value: str) -> bool:
    """A 16-digit 部件标识码: 6 division + 2 大类 + 2 小类 + 6 serial."""
    return len(value) == COMPONENT_ID_LENGTH and is_ascii_digits(value)


def component_class_of(component_id: str) -> str:
    """The 4-digit 小类 code inside a 部件标识码."""
    return component_id[6:10]


def region_of(component_id: str) -> str:
    return component_id[:6]


_CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """Check character of an 18-character 统一社会信用代码 (GB 32100-2015)."""
    total = sum(_CREDIT_CODE_CHARSET.index(ch) * w for ch, w in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True))
    return _CREDIT_CODE_CHARSET[(31 - total % 31) % 31]
