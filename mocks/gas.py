"""Mock 燃气 (gas) company: regulator stations (0135 燃气调压站) and gas manhole covers (0111 燃气井盖).

No gateway code knows this department: it is described only by ``connectors/specs/gas.yaml`` and registered at run
time. Dialect: an API key in ``X-Gas-Key`` (401 without it), a top-level JSON array per page with the RFC 8288
``Link: <…>; rel="next"`` header and ``X-Total-Count``, coordinates in CGCS2000 3-degree Gauss-Krüger metres
(EPSG:4548, central meridian 117°E, false easting 500 km), pressures in kPa, methane in %LEL, ISO times with +08:00,
status codes ZC/SH/DS/ZY/FQ (正常/损坏/丢失/占用/废弃).

- ``GET /openapi/v1/devices?district=&category=&status=&grid=&bbox=minx,miny,maxx,maxy&near=x,y,r&per_page=&after=``
- ``GET /openapi/v1/devices/batch?ids=a,b``
- ``GET /openapi/v1/ping``

Garbage on demand (``POST /_mock/faults``): ``{"garbled": "headers"}`` drops ``X-Total-Count`` from the listing,
``{"garbled": "values"}`` sends every device's status as the number 42.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from pyproj import Transformer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.city import DISTRICTS, STATUS_WEIGHTS, Inventory
from mocks.control import MockControl
from mocks.datums import great_circle_m
from mocks.memo import SerialisedOnce

DEPARTMENT = "gas"
DEPARTMENT_NAME = "济宁港华燃气有限公司"
DEMO_API_KEY = "gas-demo-key-7f3c"
API_KEY_HEADER = "X-Gas-Key"
DEVICES_PATH = "/openapi/v1/devices"
STATION_CLASS = "0135"
COVER_CLASS = "0111"
COUNTS = {STATION_CLASS: 40, COVER_CLASS: 300}  # per district at scale 1.0
CLASS_NAMES = {STATION_CLASS: "燃气调压站", COVER_CLASS: "燃气井盖"}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BATCH_IDS = 100
PROJECTED_CRS = "EPSG:4548"  # CGCS2000 3-degree Gauss-Krüger CM 117°E; EPSG:4549 is CM 120°E
STATUS_CODES = {"INTACT": "ZC", "DAMAGED": "SH", "MISSING": "DS", "OCCUPIED": "ZY", "RETIRED": "FQ"}
_STATUS_TABLE = tuple(status for status, weight in STATUS_WEIGHTS for _ in range(weight))
_TO_PROJECTED = Transformer.from_crs("EPSG:4326", PROJECTED_CRS, always_xy=True)
_TO_WGS84 = Transformer.from_crs(PROJECTED_CRS, "EPSG:4326", always_xy=True)


@dataclass(frozen=True, slots=True)
class GasDevice:
    id: str
    class_code: str
    region_code: str
    grid_code: str
    lng: float  # WGS-84 ground truth
    lat: float
    status: str
    name: str
    updated_at: datetime
    seed: int


def _value(seed: int, salt: str, low: float, high: float) -> float:
    digest = hashlib.blake2b(f"{seed}:{salt}".encode(), digest_size=8).digest()
    return low + int.from_bytes(digest, "big") / 2**64 * (high - low)


class GasInventory:
    """The gas company's devices, derived from the city inventory's seed, scale and anchor."""

    def __init__(self, inventory: Inventory) -> None:
        self.anchor = inventory.anchor
        devices: list[GasDevice] = []
        for district in DISTRICTS.values():
            for class_code, count in COUNTS.items():
                rng = random.Random(f"{inventory.seed}:gas:{district.code}:{class_code}")
                width = district.max_lng - district.min_lng - 0.004
                height = district.max_lat - district.min_lat - 0.004
                for serial in range(1, max(1, round(count * inventory.scale)) + 1):
                    lng = round(district.min_lng + 0.002 + rng.random() * width, 7)
                    lat = round(district.min_lat + 0.002 + rng.random() * height, 7)
                    road = district.roads[int(rng.random() * len(district.roads))]
                    devices.append(GasDevice(
                        id=f"{district.code}{class_code}{serial:06d}", class_code=class_code,
                        region_code=district.code, grid_code=district.grid_code(lng, lat), lng=lng, lat=lat,
                        status=_STATUS_TABLE[int(rng.random() * 100)],
                        name=f"{road}{CLASS_NAMES[class_code]}{serial}号",
                        updated_at=self.anchor - timedelta(minutes=int(rng.random() * 525600)),
                        seed=int(rng.random() * 2**31)))
        self.devices = sorted(devices, key=lambda d: d.id)
        self.ids = [d.id for d in self.devices]
        self.by_id = {d.id: d for d in self.devices}
        self.record: SerialisedOnce[GasDevice] = SerialisedOnce(self.render)  # derives from device and anchor

    def attributes(self, device: GasDevice) -> dict[str, Any]:
        """Canonical values: pressures in MPa/kPa as the gateway serves them, methane in %LEL."""
        if device.class_code == COVER_CLASS:
            return {"material": ("铸铁", "球墨铸铁", "复合材料")[device.seed % 3], "shape": "圆形",
                    "diameter_mm": (600, 700, 800)[device.seed % 3]}
        return {
            "inlet_pressure_mpa": round(_value(device.seed, "inlet", 0.2, 0.4), 4),
            "outlet_pressure_kpa": round(_value(device.seed, "outlet", 2.0, 3.5), 3),
            "methane_lel": round(_value(device.seed, "methane", 0.0, 30.0), 1),
            "reading_at": self.anchor - timedelta(minutes=1 + device.seed % 59),
        }

    def render(self, device: GasDevice) -> dict[str, Any]:
        x, y = _TO_PROJECTED.transform(device.lng, device.lat)
        row: dict[str, Any] = {
            "deviceNo": device.id, "category": device.class_code, "deviceName": device.name,
            "status": STATUS_CODES[device.status], "areaCode": device.region_code, "gridNo": device.grid_code,
            "x": round(x, 3), "y": round(y, 3), "company": DEPARTMENT_NAME,
            "modifiedAt": device.updated_at.isoformat(timespec="seconds"),
        }
        canonical = self.attributes(device)
        if device.class_code == COVER_CLASS:
            row["spec"] = {"caizhi": canonical["material"], "xingzhuang": canonical["shape"],
                           "koujing": canonical["diameter_mm"]}
        else:
            row["telemetry"] = {
                "inletKpa": round(canonical["inlet_pressure_mpa"] * 1000, 1),
                "outletKpa": canonical["outlet_pressure_kpa"],
                "ch4Lel": canonical["methane_lel"],
                "sampledAt": canonical["reading_at"].isoformat(timespec="seconds"),
            }
        return row

    def select(self, request: Request) -> list[GasDevice]:
        query = request.query_params

        def csv(name: str) -> set[str] | None:
            raw = query.get(name)
            return {v for v in raw.split(",") if v} if raw else None

        districts, categories, statuses = csv("district"), csv("category"), csv("status")
        status_names = {code: name for name, code in STATUS_CODES.items()}
        if statuses is not None:
            unknown = statuses - set(status_names)
            if unknown:
                raise ValueError(f"unknown status {sorted(unknown)}")
            statuses = {status_names[code] for code in statuses}
        grid = query.get("grid") or None
        box = _numbers(query.get("bbox"), 4)
        near = _numbers(query.get("near"), 3)
        if box is not None:
            west, south = _TO_WGS84.transform(box[0], box[1])
            east, north = _TO_WGS84.transform(box[2], box[3])
        if near is not None:
            centre_lng, centre_lat = _TO_WGS84.transform(near[0], near[1])
        out = []
        for device in self.devices:
            if districts is not None and device.region_code not in districts:
                continue
            if categories is not None and device.class_code not in categories:
                continue
            if statuses is not None and device.status not in statuses:
                continue
            if grid is not None and device.grid_code != grid:
                continue
            if box is not None and not (west <= device.lng <= east and south <= device.lat <= north):
                continue
            if near is not None and great_circle_m(centre_lng, centre_lat, device.lng, device.lat) > near[2]:
                continue
            out.append(device)
        return out


def _numbers(raw: str | None, count: int) -> list[float] | None:
    if not raw:
        return None
    values = [float(v) for v in raw.split(",")]
    if len(values) != count:
        raise ValueError(f"expected {count} numbers")
    return values


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def create_app(inventory: Inventory) -> MockControl:
    gas = GasInventory(inventory)

    def authorised(request: Request) -> bool:
        return request.headers.get(API_KEY_HEADER) == DEMO_API_KEY

    def row(device: GasDevice) -> Any:
        return {**gas.render(device), "status": 42} if control.faults.garbled == "values" else gas.record(device)

    async def devices(request: Request) -> Response:
        if not authorised(request):
            return _json({"message": "invalid api key"}, 401)
        try:
            rows = gas.select(request)
            per_page = int(request.query_params.get("per_page", DEFAULT_PAGE_SIZE))
        except ValueError as exc:
            return _json({"message": f"bad request: {exc}"}, 400)
        if not 1 <= per_page <= MAX_PAGE_SIZE:
            return _json({"message": f"per_page must be 1-{MAX_PAGE_SIZE}"}, 400)
        after = request.query_params.get("after")
        start = bisect.bisect_right([d.id for d in rows], after) if after else 0
        page = rows[start: start + per_page]
        headers = {"X-Total-Count": str(len(rows))} if control.faults.garbled != "headers" else {}
        if start + per_page < len(rows):
            params = {k: v for k, v in request.query_params.items() if k != "after"}
            params["after"] = page[-1].id
            headers["Link"] = f'<{request.url.replace(query=urlencode(params))}>; rel="next"'
        return _json([row(d) for d in page], headers=headers)

    async def batch(request: Request) -> Response:
        if not authorised(request):
            return _json({"message": "invalid api key"}, 401)
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if len(ids) > MAX_BATCH_IDS:
            return _json({"message": f"at most {MAX_BATCH_IDS} ids"}, 400)
        found = sorted((gas.by_id[i] for i in set(ids) if i in gas.by_id), key=lambda d: d.id)
        return _json([row(d) for d in found])

    async def ping(request: Request) -> Response:
        return _json({"ok": True, "service": "gas-openapi", "devices": len(gas.devices)})

    app = Starlette(routes=[
        Route(DEVICES_PATH, devices), Route(f"{DEVICES_PATH}/batch", batch), Route("/openapi/v1/ping", ping),
    ])
    control = MockControl(app)
    return control
