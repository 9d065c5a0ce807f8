"""The housing connector against its mock department, checked against the inventory's ground truth."""

from __future__ import annotations

import asyncio
import itertools
from urllib.parse import parse_qs

import pytest

from connectors.housing import MAX_BATCH_IDS, MAX_PAGE_SIZE, HousingConnector
from connectors.records import BBox, ComponentQuery, ComponentStatus, Near
from gateway.exceptions import UpstreamUnavailable, UserInputError
from mocks.city import DISTRICTS, BaseComponent
from mocks.control import MockControl
from mocks.housing import DEMO_CLIENT_ID, create_app
from tests.housing_fixtures import (
    INVENTORY,
    STATUS_CODE,
    TOKEN_PATH,
    api_requests,
    assert_matches_inventory,
    expected_ids,
    fixture_connector,  # noqa: F401 (the pytest fixture connector)
    fixture_mock_app,  # noqa: F401 (the pytest fixture mock_app)
    housing_components,
    make_connector,
    query_params,
    request_log,
    selection_filters,
    token_requests,
    walk,
)


# --- batch fetch and field mapping --------------------------------------------------------------------------
def sample_ids() -> list[str]:
    """A few of each class in each district, plus one of every status."""
    ids = [bucket[i].id for (region, code), bucket in sorted(INVENTORY.buckets.items())
           if code in ("0602", "2150") for i in (0, 3, len(bucket) - 1)]
    for status in ComponentStatus:
        ids.extend(c.id for c in itertools.islice(housing_components(statuses=[status.value]), 1))
    return list(dict.fromkeys(ids))


async def test_batch_fetch_maps_every_field_in_one_call(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    ids = sample_ids()
    records = await connector.get_components(ids)
    assert [r.id for r in records] == ids
    for record in records:
        assert_matches_inventory(record)
    calls = await api_requests(mock_app)
    assert len(calls) == 1
    assert calls[0]["path"] == "/api/objects"
    assert query_params(calls[0])["ids"].split(",") == ids


async def test_every_status_code_maps(connector: HousingConnector) -> None:
    seen = {record.status for record in await connector.get_components(sample_ids())}
    present = {ComponentStatus(c.status) for c in housing_components()}
    assert seen == present


async def test_batch_skips_unknown_and_foreign_ids(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    known = [housing_components(regions=["370812"], class_codes=["2150"])[5].id]
    unknown = "3708112150999999"
    foreign = "3708110101000001"  # a water manhole cover: never asked of housing
    records = await connector.get_components([unknown, *known, foreign, "not-an-id", *known])
    assert [r.id for r in records] == known
    calls = await api_requests(mock_app)
    assert len(calls) == 1
    assert query_params(calls[0])["ids"].split(",") == [unknown, *known]


async def test_batch_chunks_at_the_department_limit(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    ids = expected_ids()[:250]
    records = await connector.get_components(ids)
    assert [r.id for r in records] == ids
    calls = await api_requests(mock_app)
    assert len(calls) == -(-len(ids) // MAX_BATCH_IDS)
    assert all(len(query_params(call)["ids"].split(",")) <= MAX_BATCH_IDS for call in calls)


async def test_batch_of_no_housing_ids_makes_no_call(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    assert await connector.get_components(["3708110101000001"]) == []
    assert await request_log(mock_app) == []


# --- search and pagination ----------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [1, 7, 50, 123, MAX_PAGE_SIZE, 333])
async def test_walk_a_district_across_both_classes(connector: HousingConnector, first: int) -> None:
    query = ComponentQuery(region_codes=("370811",))
    items = await walk(connector, query, first)
    assert [r.id for r in items] == expected_ids(regions=["370811"])
    for record in items[:: max(1, len(items) // 20)]:
        assert_matches_inventory(record)


@pytest.mark.parametrize("first", [3, 45])
async def test_walk_one_class_uses_its_endpoint(connector: HousingConnector, mock_app: MockControl,
                                                first: int) -> None:
    query = ComponentQuery(region_codes=("370812",), class_codes=("2150",))
    items = await walk(connector, query, first)
    assert [r.id for r in items] == expected_ids(regions=["370812"], class_codes=["2150"])
    assert {call["path"] for call in await api_requests(mock_app)} == {"/api/buildings"}


async def test_resume_after_any_item_with_another_page_size(connector: HousingConnector) -> None:
    query = ComponentQuery(statuses=(ComponentStatus.INTACT, ComponentStatus.DAMAGED))
    truth = expected_ids(statuses=["INTACT", "DAMAGED"])
    page = await connector.search_components(query, None, 50)
    for consumed in (0, 9, 31, 49):
        resumed = await connector.search_components(query, page.positions[consumed], 13)
        assert [r.id for r in resumed.items] == truth[consumed + 1: consumed + 14]
    last = await connector.search_components(query, str(len(truth) - 1), 10)
    assert [r.id for r in last.items] == truth[-1:]
    assert not last.has_more
    assert last.positions == [str(len(truth))]


async def test_large_first_spans_several_department_pages(connector: HousingConnector,
                                                          mock_app: MockControl) -> None:
    page = await connector.search_components(ComponentQuery(), "5", 333)
    assert [r.id for r in page.items] == expected_ids()[5:338]
    calls = await api_requests(mock_app)
    assert sorted((int(query_params(c)["offset"]), int(query_params(c)["limit"])) for c in calls) == [
        (5, MAX_PAGE_SIZE), (5 + MAX_PAGE_SIZE, 333 - MAX_PAGE_SIZE)]


async def test_first_zero_counts_without_items(connector: HousingConnector) -> None:
    page = await connector.search_components(ComponentQuery(region_codes=("370812",)), None, 0)
    assert page.items == [] and page.positions == []
    assert page.total == len(expected_ids(regions=["370812"]))
    assert page.has_more


async def test_bad_resume_position_is_user_input(connector: HousingConnector) -> None:
    with pytest.raises(UserInputError):
        await connector.search_components(ComponentQuery(), "abc", 10)


# --- filters pushed down ------------------------------------------------------------------------------------
def some_building() -> BaseComponent:
    return housing_components(regions=["370811"], class_codes=["2150"])[17]


def filter_cases() -> list[tuple[str, ComponentQuery, dict[str, str], str]]:
    """(name, query, parameters the department must receive, path)."""
    anchor = some_building()
    district = DISTRICTS["370811"]
    mid_lng, mid_lat = (district.min_lng + district.max_lng) / 2, (district.min_lat + district.max_lat) / 2
    bbox = BBox(district.min_lng, district.min_lat, mid_lng, mid_lat)
    near = Near(anchor.lng, anchor.lat, 2500.0)
    return [
        ("district", ComponentQuery(region_codes=("370812",)), {"district": "370812"}, "/api/objects"),
        ("grid", ComponentQuery(grid_code=anchor.grid_code), {"grid": anchor.grid_code}, "/api/objects"),
        ("status", ComponentQuery(statuses=(ComponentStatus.DAMAGED, ComponentStatus.OCCUPIED)),
         {"status": "2,4"}, "/api/objects"),
        ("bbox", ComponentQuery(bbox=bbox),
         {"bbox": f"{bbox.min_lng!r},{bbox.min_lat!r},{bbox.max_lng!r},{bbox.max_lat!r}"}, "/api/objects"),
        ("near", ComponentQuery(near=near), {"near": f"{near.lng!r},{near.lat!r},2500.0"}, "/api/objects"),
        ("sites", ComponentQuery(class_codes=("0602", "0101")), {}, "/api/construction-sites"),
        ("both classes", ComponentQuery(class_codes=("2150", "0602")), {"classCode": "0602,2150"},
         "/api/objects"),
        ("all at once", ComponentQuery(
            region_codes=("370811",), grid_code=anchor.grid_code, class_codes=("2150",),
            statuses=(ComponentStatus(anchor.status),), bbox=BBox(anchor.lng - 0.01, anchor.lat - 0.01,
                                                                  anchor.lng + 0.01, anchor.lat + 0.01),
            near=Near(anchor.lng, anchor.lat, 300.0)),
         {"district": "370811", "grid": anchor.grid_code, "status": str(STATUS_CODE[anchor.status])},
         "/api/buildings"),
    ]


@pytest.mark.parametrize("case", filter_cases(), ids=lambda case: case[0])
async def test_filters_are_pushed_down(connector: HousingConnector, mock_app: MockControl,
                                       case: tuple[str, ComponentQuery, dict[str, str], str]) -> None:
    _, query, sent, path = case
    items = await walk(connector, query, 40)
    truth = expected_ids(**selection_filters(query))
    assert truth, "a filter case should match something"
    assert [r.id for r in items] == truth
    calls = await api_requests(mock_app)
    assert {call["path"] for call in calls} == {path}
    for call in calls:
        params = query_params(call)
        assert params.items() >= sent.items()
        for name in ("bbox", "near"):
            assert (name in params) == (getattr(query, name) is not None)


async def test_classes_the_department_does_not_serve_need_no_call(connector: HousingConnector,
                                                                  mock_app: MockControl) -> None:
    page = await connector.search_components(ComponentQuery(class_codes=("0101",)), None, 10)
    assert (page.items, page.total, page.has_more) == ([], 0, False)
    assert await request_log(mock_app) == []


# --- OAuth2 -------------------------------------------------------------------------------------------------
async def test_token_is_fetched_once_and_sent_on_every_call(connector: HousingConnector,
                                                            mock_app: MockControl) -> None:
    await connector.check_health()
    await connector.search_components(ComponentQuery(), None, 5)
    await connector.get_components(expected_ids()[:3])
    assert (await request_log(mock_app))[0]["path"] == TOKEN_PATH
    assert len(await token_requests(mock_app)) == 1
    assert parse_qs((await token_requests(mock_app))[0]["query"]) == {}
    authorizations = {entry["headers"]["authorization"] for entry in await api_requests(mock_app)}
    assert len(authorizations) == 1 and authorizations.pop().startswith("Bearer ")


async def test_concurrent_callers_share_one_token_fetch(connector: HousingConnector,
                                                        mock_app: MockControl) -> None:
    pages = await asyncio.gather(*(
        connector.search_components(ComponentQuery(), str(offset), 5) for offset in range(0, 100, 10)))
    assert all(len(page.items) == 5 for page in pages)
    assert len(await token_requests(mock_app)) == 1


class FakeClock:
    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_token_expired_at_the_department_is_renewed_once() -> None:
    department_clock = FakeClock()
    app = create_app(INVENTORY, token_ttl_s=300, clock=department_clock)
    connector = make_connector(app)
    await connector.check_health()
    department_clock.now += 301
    page = await connector.search_components(ComponentQuery(), None, 3)
    assert [r.id for r in page.items] == expected_ids()[:3]
    paths = [entry["path"] for entry in await request_log(app)]
    assert paths == [TOKEN_PATH, "/api/ping", "/api/objects", TOKEN_PATH, "/api/objects"]
    first_try, retry = (await api_requests(app))[1:]
    assert first_try["headers"]["authorization"] != retry["headers"]["authorization"]
    await connector.aclose()


async def test_token_is_renewed_shortly_before_expiry(mock_app: MockControl) -> None:
    connector_clock = FakeClock()
    connector = make_connector(mock_app, clock=connector_clock)
    await connector.check_health()
    connector_clock.now += 200
    await connector.check_health()
    assert len(await token_requests(mock_app)) == 1
    connector_clock.now += 80  # 280 s into a 300 s token: inside the renewal margin
    await connector.check_health()
    paths = [entry["path"] for entry in await request_log(mock_app)]
    assert paths == [TOKEN_PATH, "/api/ping", "/api/ping", TOKEN_PATH, "/api/ping"]
    await connector.aclose()


async def test_a_token_refused_after_renewal_is_not_retried_forever() -> None:
    app = create_app(INVENTORY, token_ttl_s=300, clock=FakeClock(step=1000.0))  # every token is stale at once
    connector = make_connector(app)
    with pytest.raises(UpstreamUnavailable):
        await connector.check_health()
    paths = [entry["path"] for entry in await request_log(app)]
    assert paths == [TOKEN_PATH, "/api/ping", TOKEN_PATH, "/api/ping"]
    await connector.aclose()


async def test_wrong_credentials_are_unavailable_with_a_clear_message(mock_app: MockControl) -> None:
    connector = make_connector(mock_app, client_secret="wrong")
    with pytest.raises(UpstreamUnavailable) as raised:
        await connector.search_components(ComponentQuery(), None, 5)
    assert "OAuth2 token" in raised.value.detail and DEMO_CLIENT_ID in raised.value.detail  # for the log
    assert "HTTP 401" in raised.value.detail  # the token endpoint's refusal, kept in the detail
    assert raised.value.message == "the housing department is unavailable"  # for callers: no client id
    assert raised.value.department == "housing"
    assert await api_requests(mock_app) == []
    await connector.aclose()


async def test_custom_credentials_of_the_mock(mock_app: MockControl) -> None:
    app = create_app(INVENTORY, client_id="other", client_secret="s3cret")
    connector = make_connector(app, client_id="other", client_secret="s3cret")
    await connector.check_health()
    await connector.aclose()
    log = await request_log(app)
    assert [(entry["method"], entry["path"]) for entry in log] == [("POST", TOKEN_PATH), ("GET", "/api/ping")]
    # The demo credentials no longer open this mock: the custom pair above is what signed in.
    demo = make_connector(app)
    with pytest.raises(UpstreamUnavailable) as raised:
        await demo.check_health()
    assert "OAuth2 token" in str(raised.value) and DEMO_CLIENT_ID in str(raised.value)
    await demo.aclose()
