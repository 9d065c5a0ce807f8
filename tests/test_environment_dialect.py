"""The 生态环境 department's faults, health and legacy SOAP dialect, and EnvironmentConnector's tolerance of it."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from connectors.client import DepartmentClient
from connectors.environment import EnvironmentConnector
from connectors.records import ComponentQuery, ComponentStatus
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from mocks.control import MockControl
from mocks.environment import create_app
from tests.environment_fixtures import (
    BASE_URL,
    DISTRICT,
    INVENTORY,
    SERVICE,
    STATIONS,
    connected,
    plain_client,
    stations_where,
)


# --- faults and health --------------------------------------------------------------------------------------
async def set_faults(app: MockControl, faults: dict[str, Any]) -> None:
    async with plain_client(app) as client:
        assert (await client.post("/_mock/faults", json=faults)).status_code == 200


async def test_faults_become_upstream_errors_and_reset() -> None:
    app = create_app(INVENTORY)
    async with connected(app) as connector:
        await connector.check_health()
        await set_faults(app, {"down": True})
        with pytest.raises(UpstreamUnavailable):
            await connector.search_components(ComponentQuery(), None, 5)
        with pytest.raises(UpstreamUnavailable):
            await connector.get_components([STATIONS[0].id])
        with pytest.raises(UpstreamUnavailable):
            await connector.check_health()
        await set_faults(app, {"malformed": True})
        with pytest.raises(UpstreamBadResponse):
            await connector.search_components(ComponentQuery(), None, 5)
        with pytest.raises(UpstreamBadResponse):
            await connector.get_components([STATIONS[0].id])
        with pytest.raises(UpstreamBadResponse):
            await connector.check_health()
        await set_faults(app, {})
        await connector.check_health()
        assert len((await connector.search_components(ComponentQuery(), None, 5)).items) == 5


async def test_a_parameter_the_service_rejects_is_reported_unavailable() -> None:
    # ASMX answers a bad parameter with HTTP 500 + SOAP fault, which the shared client maps to unavailable.
    async with connected() as connector:
        with pytest.raises(UpstreamUnavailable):
            await connector.search_components(ComponentQuery(grid_code="12345"), None, 5)


# --- the dialect itself -------------------------------------------------------------------------------------
async def test_ping_answers_ok_in_xml() -> None:
    async with plain_client() as client:
        response = await client.get(f"{SERVICE}/Ping")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://tempuri.org/}string" and root.text == "OK"


async def test_get_stations_speaks_the_legacy_dialect() -> None:
    async with plain_client() as client:
        response = await client.get(f"{SERVICE}/GetStations", params={
            "regionCodes": DISTRICT, "gridCode": "", "statusList": "", "bbox": "", "near": "",
            "pageIndex": "2", "pageSize": "4", "hours": "2"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/xml; charset=utf-8"
    ns = {"t": "http://tempuri.org/"}
    root = ElementTree.fromstring(response.content)
    in_district = stations_where(lambda c: c.region_code == DISTRICT)
    assert root.findtext("t:Total", namespaces=ns) == str(len(in_district))
    assert root.findtext("t:PageIndex", namespaces=ns) == "2"
    stations = root.findall("t:Stations/t:Station", ns)
    truth = [c for c in STATIONS if c.region_code == DISTRICT][4:8]
    assert [s.findtext("t:StationCode", namespaces=ns) for s in stations] == [c.id for c in truth]
    first, component = stations[0], truth[0]
    assert first.findtext("t:UpdateTime", namespaces=ns) == component.updated_at.strftime("%Y/%m/%d %H:%M:%S")
    assert first.findtext("t:Longitude", namespaces=ns) == f"{component.lng:.7f}"
    assert len(first.findall("t:HourlyData/t:Hour", ns)) == 2


@pytest.mark.parametrize("params", [
    {"pageSize": "0"}, {"pageSize": "201"}, {"pageIndex": "abc"}, {"pageIndex": "0"}, {"hours": "169"},
    {"statusList": "完好"}, {"bbox": "116,35,117"}, {"bbox": "117,35,116,36"}, {"near": "116.5,35.4,-1"},
    {"gridCode": "3708"}, {"regionCodes": "3708"}, {"classCodes": "308"},
])
async def test_bad_parameters_get_a_soap_fault(params: dict[str, str]) -> None:
    async with plain_client() as client:
        response = await client.get(f"{SERVICE}/GetStations", params=params)
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/xml")
    fault = ElementTree.fromstring(response.content).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None and "Exception" in (fault.findtext("faultstring") or "")


async def test_batch_endpoint_rejects_too_many_or_malformed_codes() -> None:
    async with plain_client() as client:
        too_many = ",".join(f"3708110308{n:06d}" for n in range(1, 102))
        url = f"{SERVICE}/GetStationsByCodes"
        assert (await client.get(url, params={"codes": too_many})).status_code == 500
        assert (await client.get(url, params={"codes": "12,34"})).status_code == 500
        empty = await client.get(url, params={"codes": ""})
    assert empty.status_code == 200
    assert ElementTree.fromstring(empty.content).findtext("{*}Total") == "0"


# --- tolerance of what a legacy system sends --------------------------------------------------------------
HAND_MADE_STATION = """<?xml version="1.0" encoding="utf-8"?>
<StationResult xmlns="http://tempuri.org/"><Total>1</Total><Stations><Station>
<StationCode>3708120308000009</StationCode><StationName>测试站</StationName><TypeCode>0308</TypeCode>
<RegionCode>370812</RegionCode><GridCode>370812001010001</GridCode><Longitude>116.8</Longitude>
<Latitude>35.55</Latitude><Status>{status}</Status><Authority>济宁市生态环境局</Authority>
<OwnerName>-</OwnerName><OwnerUSCC/><MaintainerName>某运维公司</MaintainerName><MaintainerUSCC>-</MaintainerUSCC>
<UpdateTime>2026/10/01 08:00:00</UpdateTime><DataTime>-</DataTime>
<AQI>-</AQI><PM25></PM25><PM10>88</PM10><SO2 /><NO2>--</NO2><CO>0.9</CO>
<HourlyData><Hour Time="2026/10/01 07:00:00"><AQI>60</AQI><PM25>-</PM25></Hour>
<Hour Time="2026/10/01 08:00:00"><AQI>-</AQI></Hour></HourlyData>
</Station></Stations></StationResult>"""


def hand_made_connector(body: str) -> EnvironmentConnector:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
    return EnvironmentConnector(DepartmentClient(BASE_URL, transport=transport))


async def test_missing_values_become_none() -> None:
    connector = hand_made_connector(HAND_MADE_STATION.format(status="丢失"))
    [record] = await connector.get_components(["3708120308000009"])
    assert record.status is ComponentStatus.MISSING
    assert record.owner is None
    assert record.maintainer is not None and record.maintainer.credit_code is None
    assert record.updated_at.isoformat() == "2026-10-01T08:00:00+08:00"
    keys = ("aqi", "pm25", "pm10", "so2", "no2", "o3", "co", "reading_at")
    assert {k: record.attributes[k] for k in keys} == {
        "aqi": None, "pm25": None, "pm10": 88.0, "so2": None, "no2": None, "o3": None, "co": 0.9,
        "reading_at": None,
    }
    hourly = record.attributes["hourly"]
    assert [h["at"].hour for h in hourly] == [8, 7]  # newest first whatever the service's order
    assert hourly[1]["aqi"] == 60.0 and hourly[1]["pm25"] is None and hourly[0]["aqi"] is None


@pytest.mark.parametrize("body", [
    HAND_MADE_STATION.format(status="维修中"),
    HAND_MADE_STATION.format(status="正常").replace("<StationCode>3708120308000009</StationCode>", ""),
    HAND_MADE_STATION.format(status="正常").replace("2026/10/01 08:00:00", "01.10.2026"),
    HAND_MADE_STATION.format(status="正常").replace(">116.8<", ">东经<"),
    '<?xml version="1.0"?><Unexpected xmlns="http://tempuri.org/" />',
])
async def test_answers_outside_the_dialect_are_bad_responses(body: str) -> None:
    connector = hand_made_connector(body)
    with pytest.raises(UpstreamBadResponse):
        await connector.get_components(["3708120308000009"])
    with pytest.raises(UpstreamBadResponse):
        await connector.search_components(ComponentQuery(), None, 5)
