"""The benchmark scenarios of issue 3, each written once for yiwang and once for the peer (Hive Gateway over the
supergraph GraphQL Mesh composes from the departments' OpenAPI documents).

The two schemas differ (the peer exposes each department's own dialect: ``listFacilities { data { records {
facility_code } } }``), so each scenario has two query texts. The peer queries alias the dialect's field names to
yiwang's where the values are the same, so the answers are the same content in nearly the same bytes. Each scenario
also has two ``normalize`` functions that reduce an answer to comparable content; ``compare`` checks them equal, so
a benchmark never compares a gateway that answers less (or something else) than the other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.geo import gcj02_to_wgs84
from mocks.city import DEPARTMENT_CLASSES
from mocks.water import MAX_PAGE_SIZE as WATER_MAX_PAGE_SIZE
from schema.codes import load_catalogue

Normalize = Callable[[dict[str, Any]], Any]

# Water component classes whose code is not also an event (事件) class code: a case filter on these (xlbm) yields
# only 部件 cases, each about one water component. (0102 and 0103 are also event codes, whose cases have no
# component; the peer's @resolveTo link would call the department with an empty id for them and get a 400.)
WATER_CASE_CLASSES = tuple(sorted(set(DEPARTMENT_CLASSES["water"]) - set(load_catalogue().events)))
DISTRICTS = "370811,370812"  # yiwang's default YIWANG_REGIONS; the peer passes the same list explicitly
DASHBOARD_DISTRICT = "370811"
LIST_SIZE = 50
DASHBOARD_SIZE = 20
JOIN_SIZE = 100
LARGE_SIZE = 5000
STATUS_BY_WATER_STATE = {"完好": "INTACT", "破损": "DAMAGED", "丢失": "MISSING", "占用": "OCCUPIED", "废弃": "RETIRED"}
COORDINATE_TOLERANCE_DEG = 1e-6  # ~10 cm


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    description: str
    yiwang_query: str
    peer_query: str
    normalize_yiwang: Normalize
    normalize_peer: Normalize
    connections: int  # wrk -c: enough to keep one core busy without queueing seconds of work
    min_seconds: int = 0  # slow scenarios get a longer window, so that enough requests complete in it
    compare: Callable[[Any, Any], str | None] | None = None
    skip_reason: str | None = None
    # Every request carries its own ``Authorization: Bearer`` token (bench.harness.TokenPool), on both gateways.
    tokens: bool = False
    # yiwang settings of this scenario (over bench.harness.yiwang_settings_env); a scenario whose settings differ
    # from the previous one's gets a yiwang process of its own. The peer has no settings to vary.
    yiwang_env: dict[str, str] = field(default_factory=dict)


def _compact(query: str) -> str:
    return " ".join(query.split())


def _equal(a: Any, b: Any) -> str | None:
    if a == b:
        return None
    return f"content differs: yiwang {_preview(a)} vs peer {_preview(b)}"


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "…"


# --- 1. one department, 50 components, 4 fields -------------------------------------------------------------
S1_YIWANG = _compact(f"""
{{ components(filter: {{departments: ["water"]}}, first: {LIST_SIZE}) {{
    nodes {{ id name regionCode gridCode }} }} }}""")
S1_PEER = _compact(f"""
{{ listFacilities(district_codes: "{DISTRICTS}", page: 1, size: {LIST_SIZE}) {{ data {{
    records {{ id: facility_code name: facility_name regionCode: district_code gridCode: grid_code }} }} }} }}""")


def s1_yiwang(data: dict[str, Any]) -> Any:
    return data["components"]["nodes"]


def s1_peer(data: dict[str, Any]) -> Any:
    return data["listFacilities"]["data"]["records"]


# --- 2. dashboard: three departments in one district, plus totals --------------------------------------------
_S2_FIELDS = "id name regionCode gridCode"
S2_YIWANG = _compact("{ " + " ".join(
    f"""{department}: components(filter: {{regionCode: "{DASHBOARD_DISTRICT}", departments: ["{department}"]}},
        first: {DASHBOARD_SIZE}) {{ totalCount nodes {{ {_S2_FIELDS} }} }}"""
    for department in ("water", "transport", "housing")) + " }")
# GraphQL forbids one response key with two scalar types, and Mesh derives a distinct scalar per pattern-bearing
# field of each housing kind, so the Building branch needs its own aliases. The first 20 housing objects of a
# district are construction sites (0602 sorts before 2150) at every scale, so only the first branch answers.
S2_PEER = _compact(f"""
{{ water: listFacilities(district_codes: "{DASHBOARD_DISTRICT}", page: 1, size: {DASHBOARD_SIZE}) {{ data {{
      total records {{ id: facility_code name: facility_name regionCode: district_code gridCode: grid_code }} }} }}
   transport: listAssets(areaCodes: ["{DASHBOARD_DISTRICT}"], limit: {DASHBOARD_SIZE}) {{
      totalCount items {{ id: assetId name: assetName regionCode: areaCode gridCode: gridId }} }}
   housing: objects(district: ["{DASHBOARD_DISTRICT}"], offset: 0, limit: {DASHBOARD_SIZE}) {{
      count results {{
        ... on ConstructionSite {{ id: objectId name regionCode gridCode }}
        ... on Building {{ buildingId: objectId buildingName: name buildingRegionCode: regionCode
                          buildingGridCode: gridCode }} }} }} }}""")


def s2_yiwang(data: dict[str, Any]) -> Any:
    return {department: (data[department]["totalCount"], data[department]["nodes"])
            for department in ("water", "transport", "housing")}


def _housing_row(row: dict[str, Any]) -> dict[str, Any]:
    if "buildingId" in row:
        return {"id": row["buildingId"], "name": row["buildingName"], "regionCode": row["buildingRegionCode"],
                "gridCode": row["buildingGridCode"]}
    return row


def s2_peer(data: dict[str, Any]) -> Any:
    return {
        "water": (data["water"]["data"]["total"], data["water"]["data"]["records"]),
        "transport": (data["transport"]["totalCount"], data["transport"]["items"]),
        "housing": (data["housing"]["count"], [_housing_row(r) for r in data["housing"]["results"]]),
    }


# --- 3. join: 100 cases with the component each refers to ----------------------------------------------------
# Cases about water components (部件 cases of WATER_CASE_CLASSES), so every case refers to exactly one component
# and the peer's single @resolveTo link (Case.component -> water batchFacilities) covers them all.
_S3_COMPONENT = "id name regionCode gridCode"
S3_YIWANG = _compact(f"""
{{ events(filter: {{classes: [{", ".join(f'{{kind: COMPONENT, code: "{c}"}}' for c in WATER_CASE_CLASSES)}]}},
    first: {JOIN_SIZE}) {{
    nodes {{ id description componentId component {{ {_S3_COMPONENT} }} }} }} }}""")
S3_PEER = _compact(f"""
{{ listCases(sqbm: "{DISTRICTS}", xlbm: "{",".join(WATER_CASE_CLASSES)}", pageNo: 1, pageSize: {JOIN_SIZE}) {{
    rows {{ id: ajbh description: wtms componentId: bjbsm
            component {{ id: facility_code name: facility_name regionCode: district_code gridCode: grid_code }} }}
}} }}""")


def s3_yiwang(data: dict[str, Any]) -> Any:
    return data["events"]["nodes"]


def s3_peer(data: dict[str, Any]) -> Any:
    return data["listCases"]["rows"]


# --- 4. a large response: 5,000 components with 8 fields -----------------------------------------------------
# The water department serves at most WATER_MAX_PAGE_SIZE facilities a page. yiwang pages upstream by itself; a
# Mesh user asks for the pages as aliases, which makes the same upstream calls.
_S4_PAGES = math.ceil(LARGE_SIZE / WATER_MAX_PAGE_SIZE)
S4_YIWANG = _compact(f"""
{{ components(filter: {{departments: ["water"]}}, first: {LARGE_SIZE}) {{
    nodes {{ id name status regionCode gridCode authority updatedAt location {{ lng lat }} }} }} }}""")
S4_PEER = _compact("{ " + " ".join(
    f"""p{page}: listFacilities(district_codes: "{DISTRICTS}", page: {page}, size: {WATER_MAX_PAGE_SIZE}) {{
        data {{ records {{ id: facility_code name: facility_name status: state regionCode: district_code
                          gridCode: grid_code authority: dept_name updatedAt: update_time lng: gcj_lng
                          lat: gcj_lat }} }} }}"""
    for page in range(1, _S4_PAGES + 1)) + " }")
_ENUM_ESCAPE = re.compile(r"_(\d+)_")


def _water_state(value: str) -> str:
    """Mesh turns the Chinese enum values into GraphQL names like ``_23436__22909_`` (code points); undo that."""
    return STATUS_BY_WATER_STATE.get(_ENUM_ESCAPE.sub(lambda m: chr(int(m.group(1))), value), value)


def s4_yiwang(data: dict[str, Any]) -> Any:
    return [{**node, "updatedAt": node["updatedAt"][:19]} for node in data["components"]["nodes"]]


def s4_peer(data: dict[str, Any]) -> Any:
    rows = [row for page in range(1, _S4_PAGES + 1) for row in data[f"p{page}"]["data"]["records"]][:LARGE_SIZE]
    out = []
    for row in rows:
        lng, lat = gcj02_to_wgs84(row["lng"], row["lat"])
        out.append({"id": row["id"], "name": row["name"], "status": _water_state(row["status"]),
                    "regionCode": row["regionCode"], "gridCode": row["gridCode"], "authority": row["authority"],
                    "updatedAt": row["updatedAt"].replace(" ", "T"), "location": {"lng": lng, "lat": lat}})
    return out


def s4_compare(yiwang: Any, peer: Any) -> str | None:
    if len(yiwang) != len(peer):
        return f"{len(yiwang)} components from yiwang, {len(peer)} from the peer"
    for a, b in zip(yiwang, peer, strict=True):
        la, lb = a["location"], b["location"]
        if abs(la["lng"] - lb["lng"]) > COORDINATE_TOLERANCE_DEG or abs(la["lat"] - lb["lat"]) > \
                COORDINATE_TOLERANCE_DEG:
            return f"location of {a['id']} differs: {la} vs {lb} (peer converted from GCJ-02)"
        rest_a = {k: v for k, v in a.items() if k != "location"}
        rest_b = {k: v for k, v in b.items() if k != "location"}
        if rest_a != rest_b:
            return f"content differs: yiwang {_preview(rest_a)} vs peer {_preview(rest_b)}"
    return None


# --- 5. the dashboard with a distinct Authorization on every request ---------------------------------------------
# Scenario 2's queries, each request with a token of its own (minted by the harness for the demo issuer: distinct
# subjects, all municipal viewers of 370800, so district 370811 is in scope), sent to both gateways. Both verify
# every one over the demo issuer's JWKS: yiwang trusts the demo issuer and refuses anonymous callers here; the peer
# has Hive Gateway's JWT plugin (bench/peer/gateway.config.ts: ES256, issuer, audience, 30 s leeway). The cached
# variant turns yiwang's own caching on: its response cache keys by the caller's scope, not the token, so distinct
# users of one scope share entries.
S5_YIWANG_ENV = {"YIWANG_TRUST_DEMO_ISSUER": "true", "YIWANG_ANONYMOUS": "reject"}
S5_CACHED_YIWANG_ENV = {**S5_YIWANG_ENV, "YIWANG_CACHE_ENABLED": "true"}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("s1_list50", "1. list 50 × 4 fields", "one department (water), 50 components with 4 fields",
             S1_YIWANG, S1_PEER, s1_yiwang, s1_peer, connections=16),
    Scenario("s2_dashboard", "2. dashboard", f"components of water, transport and housing in {DASHBOARD_DISTRICT}, "
             f"{DASHBOARD_SIZE} each, plus their totals", S2_YIWANG, S2_PEER, s2_yiwang, s2_peer, connections=16),
    Scenario("s3_join100", "3. join 100 cases", f"{JOIN_SIZE} cases (water 部件 classes) with the component each "
             "refers to; the peer resolves per parent, yiwang batches", S3_YIWANG, S3_PEER, s3_yiwang, s3_peer,
             connections=8, min_seconds=5),
    Scenario("s4_large5000", "4. 5,000 × 8 fields", f"{LARGE_SIZE} water components with 8 fields (the peer asks "
             f"for {_S4_PAGES} aliased pages of {WATER_MAX_PAGE_SIZE}, the same upstream calls yiwang makes)",
             S4_YIWANG, S4_PEER, s4_yiwang, s4_peer, connections=4, min_seconds=5, compare=s4_compare),
    Scenario("s5_auth_dashboard", "5. dashboard, distinct Authorization", "scenario 2 with a distinct "
             "Authorization: Bearer token per request (municipal viewers of 370800); both gateways verify each "
             "(the peer with Hive Gateway's JWT plugin over the same JWKS)", S2_YIWANG, S2_PEER, s2_yiwang, s2_peer,
             connections=16, tokens=True, yiwang_env=S5_YIWANG_ENV),
    Scenario("s5_auth_dashboard_cached", "5c. dashboard, distinct Authorization, yiwang cache on", "scenario 5 "
             "with yiwang's own caching on (YIWANG_CACHE_ENABLED=true; the response cache is shared by callers of "
             "one scope); the peer caches nothing", S2_YIWANG, S2_PEER, s2_yiwang, s2_peer, connections=16,
             tokens=True, yiwang_env=S5_CACHED_YIWANG_ENV),
)


def compare(scenario: Scenario, yiwang_data: dict[str, Any], peer_data: dict[str, Any]) -> str | None:
    """None when both answers carry the same content, else what differs."""
    a, b = scenario.normalize_yiwang(yiwang_data), scenario.normalize_peer(peer_data)
    return (scenario.compare or _equal)(a, b)
