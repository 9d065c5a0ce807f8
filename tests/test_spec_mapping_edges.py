"""The spec mapping at its edges (connectors/spec/mapping.py), through its public functions: how a path reads a record,
how a value is typed, coded, split and converted, how a time gets its zone, and how a record is assembled or refused.
Expected values are worked out by hand from the spec's words, not by the code under test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors.records import ComponentStatus, Organization
from connectors.spec.mapping import RecordMapper, compile_field, compile_search, shaped_attributes
from connectors.spec.model import ComponentMapping, ConnectorSpec, FieldMap, load_spec

GAS_SPEC = Path(__file__).resolve().parent.parent / "connectors" / "specs" / "gas.yaml"
CST = timezone(timedelta(hours=8))


def field_value(name: str, raw: dict[str, Any], kind: str | None = None, **spec: Any) -> Any:
    return compile_field(name, FieldMap(**spec), kind=kind).value(raw)


# --- paths ------------------------------------------------------------------------------------------------------


def test_a_dotted_path_reads_nested_objects_and_gives_none_where_the_record_has_nothing() -> None:
    search = compile_search("a.b.c")
    assert search({"a": {"b": {"c": 7}}}) == 7
    assert search({"a": {"b": {}}}) is None
    assert search({"a": {"b": [1, 2]}}) is None  # not an object: nothing to read
    assert search({"a": "text"}) is None
    assert search({}) is None
    assert compile_search("top")({"top": "x", "other": "y"}) == "x"


def test_any_other_jmespath_expression_is_evaluated_as_jmespath() -> None:
    record = {"points": [{"v": 3}, {"v": 5}], "name": "井盖"}
    assert compile_search("points[1].v")(record) == 5
    assert compile_search("points[*].v")(record) == [3, 5]
    assert compile_search("length(points)")(record) == 2
    assert compile_search("a.b[0]")({"a": {"b": ["first"]}}) == "first"


# --- values -----------------------------------------------------------------------------------------------------


def test_a_missing_or_empty_value_is_null_whatever_its_type() -> None:
    assert field_value("n", {"n": ""}, path="n", type="integer") is None
    assert field_value("n", {}, path="n", type="integer") is None
    assert field_value("n", {"n": None}, path="n", type="boolean") is None
    assert field_value("n", {"n": 0}, path="n", type="integer") == 0  # zero is a value


def test_a_constant_stands_in_for_a_path() -> None:
    assert field_value("material", {"material": "iron"}, const="concrete") == "concrete"
    assert compile_field("material", FieldMap(const="concrete")).path is None


def test_a_code_table_maps_department_values_and_refuses_others() -> None:
    codes = {"1": "INTACT", "2": "DAMAGED"}
    assert field_value("status", {"s": 2}, path="s", values=codes) == "DAMAGED"  # looked up as text
    with pytest.raises(ValueError) as refused:
        field_value("status", {"s": "9"}, path="s", values=codes)
    assert str(refused.value) == "value '9' is not in the spec's values (1, 2)"


def test_split_turns_text_into_a_typed_list_without_empty_items() -> None:
    assert field_value("tags", {"t": "a;b;;c;"}, path="t", split=";") == ["a", "b", "c"]
    assert field_value("sizes", {"t": "10,20.5,,3"}, path="t", split=",", type="integer") == [10, 20, 3]


def test_types_read_the_way_the_spec_names_them() -> None:
    assert field_value("x", {"x": 12}, path="x", type="string") == "12"
    assert field_value("x", {"x": "12.9"}, path="x", type="integer") == 12
    assert field_value("x", {"x": "-3.5"}, path="x", type="number") == -3.5
    assert field_value("x", {"x": {"a": [1]}}, path="x", type="json") == {"a": [1]}
    assert field_value("x", {"x": [1, "2"]}, path="x") == [1, "2"]  # no type: as the department sent it
    assert field_value("x", {"x": "2026-11-01T23:30:00+08:00"}, path="x", type="date") == date(2026, 11, 1)


def test_a_boolean_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="True is not a number"):
        field_value("x", {"x": True}, path="x", type="number")


@pytest.mark.parametrize("text", ["true", "TRUE", "1", "yes", "Y", True])
def test_yes_words_are_true(text: Any) -> None:
    assert field_value("x", {"x": text}, path="x", type="boolean") is True


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "N", False, 0])
def test_no_words_are_false(text: Any) -> None:
    assert field_value("x", {"x": text}, path="x", type="boolean") is False


def test_any_other_word_is_not_a_boolean() -> None:
    with pytest.raises(ValueError, match="'maybe' is not a boolean"):
        field_value("x", {"x": "maybe"}, path="x", type="boolean")


# --- times ------------------------------------------------------------------------------------------------------


def test_iso_times_keep_their_offset_and_z_is_utc() -> None:
    assert field_value("t", {"t": "2026-11-01T08:00:00Z"}, path="t", type="datetime") == datetime(
        2026, 11, 1, 8, tzinfo=UTC)
    moment = field_value("t", {"t": "2026-11-01T08:00:00+08:00"}, path="t", type="datetime", timezone="-05:00")
    assert moment.utcoffset() == timedelta(hours=8)  # the record's own offset beats the spec's


def test_a_naive_time_takes_the_specs_zone() -> None:
    assert field_value("t", {"t": "2026-11-01 08:00:00"}, path="t", type="datetime",
                       timezone="+08:00") == datetime(2026, 11, 1, 8, tzinfo=CST)
    west = field_value("t", {"t": "2026-11-01T08:00:00"}, path="t", type="datetime", timezone="-03:30")
    assert west.utcoffset() == -timedelta(hours=3, minutes=30)
    east = field_value("t", {"t": "2026-11-01T08:00:00"}, path="t", type="datetime", timezone="+05:45")
    assert east.utcoffset() == timedelta(hours=5, minutes=45)


def test_a_naive_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        field_value("t", {"t": "2026-11-01T08:00:00"}, path="t", type="datetime")
    assert str(refused.value) == "time '2026-11-01T08:00:00' has no time zone and the spec gives none"


def test_a_strptime_format_reads_times_that_are_not_iso() -> None:
    moment = field_value("t", {"t": "01/11/2026 08.30"}, path="t", type="datetime", format="%d/%m/%Y %H.%M",
                         timezone="+08:00")
    assert moment == datetime(2026, 11, 1, 8, 30, tzinfo=CST)


@pytest.mark.parametrize("time_format", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"])
def test_an_iso_local_format_also_reads_an_offset(time_format: str) -> None:
    # These formats are read as ISO 8601, so a record that adds an offset is still understood.
    moment = field_value("t", {"t": "2026-11-01 08:00:00+08:00"}, path="t", type="datetime", format=time_format)
    assert moment == datetime(2026, 11, 1, 0, tzinfo=UTC)


# --- units ------------------------------------------------------------------------------------------------------


def test_a_unit_is_converted_to_the_one_the_attribute_name_ends_in() -> None:
    assert field_value("attributes.pressure_mpa", {"p": "250"}, path="p", type="number", unit="kPa") == 0.25
    assert field_value("attributes.diameter_mm", {"d": 0.0012345678}, path="d", unit="m") == 1.234568
    same = field_value("attributes.pressure_mpa", {"p": "2"}, path="p", unit="MPa")
    assert same == 2.0 and isinstance(same, float)


def test_a_unit_read_from_the_record_is_used_and_its_absence_refused() -> None:
    assert field_value("attributes.flow_m3h", {"f": 2, "u": "L/s"}, path="f", unit_path="u") == 7.2
    with pytest.raises(ValueError, match=r"^no unit$"):
        field_value("attributes.flow_m3h", {"f": 2}, path="f", unit_path="u")


def test_without_a_unit_nothing_is_converted() -> None:
    compiled = compile_field("attributes.pressure_mpa", FieldMap(path="p"))
    assert compiled.target_unit is None
    assert compiled.value({"p": "250"}) == "250"


def test_a_field_given_as_a_path_takes_the_kind_and_a_declared_type_wins() -> None:
    assert compile_field("id", "a.b", kind="string").value({"a": {"b": 42}}) == "42"
    assert compile_field("n", FieldMap(path="n", type="integer"), kind="string").value({"n": "4.0"}) == 4
    assert compile_field("n", FieldMap(path="n"), kind="integer").value({"n": "4.0"}) == 4


# --- records ----------------------------------------------------------------------------------------------------

BASE_MAPPING: dict[str, Any] = {
    "id": "no", "class_code": "cls", "name": "title",
    "status": {"path": "st", "values": {"ok": "INTACT", "bad": "DAMAGED"}},
    "region_code": "area", "grid_code": "grid", "location": {"x": "pos.x", "y": "pos.y", "crs": "WGS84"},
    "updated_at": {"path": "at", "type": "datetime"},
}
ROW: dict[str, Any] = {"no": "H-1", "cls": "0113", "title": "消火栓", "st": "ok", "area": "370811", "grid": "g1",
                       "pos": {"x": 116.6, "y": 35.4}, "at": "2026-11-01T08:00:00+08:00"}


def mapper(crs: str = "EPSG:4548", **mapping: Any) -> RecordMapper:
    spec: ConnectorSpec = load_spec(GAS_SPEC)
    merged = {**BASE_MAPPING, **mapping}
    return RecordMapper(spec.model_copy(update={"mapping": ComponentMapping.model_validate(merged), "crs": crs}))


def test_a_row_becomes_a_record_in_the_departments_name() -> None:
    record = mapper().to_record(ROW)
    assert (record.id, record.class_code, record.name, record.status) == ("H-1", "0113", "消火栓",
                                                                          ComponentStatus.INTACT)
    assert (record.region_code, record.grid_code) == ("370811", "g1")
    assert (record.lng, record.lat) == (116.6, 35.4)  # the location's own crs beats the spec's EPSG:4548
    assert record.updated_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert (record.department_id, record.department_name) == ("gas", "燃气 Gas supply")
    assert record.owner is None and record.maintainer is None
    # Hydrant is a GraphQL type: exactly its fields, unmapped ones null.
    assert record.attributes == {"hydrant_type": None, "outlet_diameter_mm": None, "pressure_mpa": None,
                                 "reading_at": None}


def test_the_specs_crs_applies_when_the_location_names_none() -> None:
    location = {"x": "pos.x", "y": "pos.y"}
    # CGCS2000 Gauss-Krüger CM 117°E: a false easting of 500 km lies on the central meridian.
    record = mapper(location=location).to_record({**ROW, "pos": {"x": 500000.0, "y": 3_900_000.0}})
    assert record.lng == pytest.approx(117.0, abs=1e-9)
    assert 35.0 < record.lat < 35.5
    assert mapper(crs="WGS84", location=location).to_record(ROW).lng == 116.6


def test_a_mapped_department_name_and_organisations_are_taken_from_the_row() -> None:
    row = {**ROW, "company": "济宁港华燃气", "own": {"n": "市燃气公司", "c": "91370800X"}, "keeper": {"n": "维保队"}}
    record = mapper(department_name="company", owner={"name": "own.n", "credit_code": "own.c"},
                    maintainer={"name": "keeper.n"}).to_record(row)
    assert record.department_name == "济宁港华燃气"
    assert record.owner == Organization(name="市燃气公司", credit_code="91370800X")
    assert record.maintainer == Organization(name="维保队", credit_code=None)
    nameless = mapper(owner={"name": "own.n"}).to_record({**ROW, "own": {"n": ""}})
    assert nameless.owner is None
    assert mapper(department_name="company").to_record(ROW).department_name == "燃气 Gas supply"


def test_attributes_keep_their_names_and_unknown_classes_keep_only_values() -> None:
    attributes = {"pressure_mpa": {"path": "p", "unit": "kPa"}, "note": "remark"}
    hydrant = mapper(attributes=attributes).to_record({**ROW, "p": 300})
    assert hydrant.attributes["pressure_mpa"] == 0.3
    assert "note" not in hydrant.attributes  # not a Hydrant field
    other = mapper(attributes=attributes).to_record({**ROW, "cls": "9999", "p": 300})
    assert other.attributes == {"pressure_mpa": 0.3}  # remark missing: left out


def test_shaped_attributes_fit_a_typed_class_exactly_and_keep_values_of_others() -> None:
    assert shaped_attributes("0113", {"pressure_mpa": 0.3, "extra": 1}) == {
        "hydrant_type": None, "outlet_diameter_mm": None, "pressure_mpa": 0.3, "reading_at": None}
    assert shaped_attributes("9999", {"a": 1, "b": None, "c": 0}) == {"a": 1, "c": 0}


def test_map_fields_reports_every_field_that_does_not_map() -> None:
    problems: list[tuple[str, str]] = []
    row = {**ROW, "st": "lost", "at": "yesterday", "pos": {"x": "east", "y": 35.4}, "own": {"n": 5},
           "p": "high", "when": "2026-11-01T08:00:00"}
    values = mapper(owner={"name": {"path": "own.n", "values": {"1": "x"}}},
                    attributes={"pressure_mpa": {"path": "p", "type": "number"},
                                "reading_at": {"path": "when", "type": "datetime"}}).map_fields(
        row, lambda field, message: problems.append((field, message)))
    assert [field for field, _ in problems] == ["status", "updated_at", "owner", "location",
                                                "attributes.pressure_mpa", "attributes.reading_at"]
    messages = dict(problems)
    assert messages["status"] == "value 'lost' is not in the spec's values (ok, bad)"
    assert messages["location"].endswith("(x='east', y=35.4)")
    assert messages["attributes.reading_at"].startswith("time '2026-11-01T08:00:00' has no time zone")
    assert values["id"] == "H-1" and "status" not in values
    assert values["attributes"] == {}


def test_map_fields_gives_the_position_and_attributes_of_a_good_row() -> None:
    values = mapper(attributes={"pressure_mpa": {"path": "p", "unit": "MPa"}}).map_fields(
        {**ROW, "p": "0.4"}, lambda field, message: pytest.fail(f"{field}: {message}"))
    assert (values["lng"], values["lat"]) == (116.6, 35.4)
    assert values["attributes"] == {"pressure_mpa": 0.4}


def test_a_refused_row_names_its_record_and_field() -> None:
    with pytest.raises(ValueError) as refused:
        mapper().to_record({**ROW, "st": "lost"})
    assert str(refused.value) == "record H-1: status: value 'lost' is not in the spec's values (ok, bad)"
    with pytest.raises(ValueError) as missing:
        mapper().to_record({**ROW, "title": ""})
    assert str(missing.value) == "record H-1: name is missing"
    with pytest.raises(ValueError) as numbered:
        mapper().to_record({**ROW, "no": 17, "grid": None})
    assert str(numbered.value) == "record 17: grid_code is missing"


def test_a_long_record_id_is_cut_and_an_unreadable_one_left_out() -> None:
    long_id = "X" * 50
    with pytest.raises(ValueError) as cut:
        mapper().to_record({**ROW, "no": long_id, "st": "lost"})
    assert str(cut.value).startswith(f"record {'X' * 40}: status: ")
    for odd in ({"nested": 1}, True, ""):
        with pytest.raises(ValueError) as bare:
            mapper().to_record({**ROW, "no": odd, "st": "lost"})
        assert str(bare.value).startswith("status: "), odd
    with pytest.raises(ValueError) as constant:
        mapper(id={"const": "fixed"}).to_record({**ROW, "st": "lost"})
    assert str(constant.value).startswith("status: ")


def test_every_required_field_is_checked() -> None:
    record_mapper = mapper()
    for required, column in (("id", "no"), ("class_code", "cls"), ("status", "st"), ("region_code", "area"),
                             ("updated_at", "at")):
        with pytest.raises(ValueError, match=f"{required} is missing"):
            record_mapper.record(record_mapper.map_fields({**ROW, column: None}, lambda *_: None))


def test_expressions_lists_every_path_the_mapping_reads() -> None:
    record_mapper = mapper(owner={"name": "own.n", "credit_code": "own.c"}, maintainer={"name": "keeper.n"},
                           department_name="company", attributes={"flow_m3h": {"path": "f", "unit_path": "u"},
                                                                  "fixed": {"const": 1}})
    assert sorted(record_mapper.expressions()) == sorted([
        "no", "cls", "title", "st", "area", "grid", "at", "company", "f", "own.n", "own.c", "keeper.n", "u",
        "pos.x", "pos.y"])


def test_codes_names_and_organisations_sent_as_numbers_become_text() -> None:
    row = {**ROW, "no": 1001, "cls": 113, "title": 7, "area": 370811, "grid": 42, "company": 12315,
           "own": {"n": 8, "c": 913708}}
    record = mapper(department_name="company", owner={"name": "own.n", "credit_code": "own.c"}).to_record(row)
    assert (record.id, record.class_code, record.name) == ("1001", "113", "7")
    assert (record.region_code, record.grid_code, record.department_name) == ("370811", "42", "12315")
    assert record.owner == Organization(name="8", credit_code="913708")


def test_updated_at_is_a_time_even_when_the_spec_gives_no_type() -> None:
    record = mapper(updated_at={"path": "at"}).to_record(ROW)
    assert record.updated_at == datetime(2026, 11, 1, tzinfo=UTC)


def test_an_organisation_that_does_not_map_is_reported_with_its_reason() -> None:
    problems: list[tuple[str, str]] = []
    mapper(maintainer={"name": "keeper.n", "credit_code": {"path": "keeper.c", "values": {"A": "91"}}}).map_fields(
        {**ROW, "keeper": {"n": "维保队", "c": "B"}}, lambda field, message: problems.append((field, message)))
    assert problems == [("maintainer", "value 'B' is not in the spec's values (A)")]


def test_an_id_that_cannot_be_read_leaves_the_record_unnamed() -> None:
    with pytest.raises(ValueError) as refused:
        mapper(id={"path": "length(no)"}).to_record({**ROW, "no": 5})  # length of a number: a JMESPath error
    assert str(refused.value).startswith("id: ")


def test_a_value_already_in_the_target_unit_keeps_its_precision() -> None:
    assert field_value("attributes.pressure_mpa", {"p": 0.12345678}, path="p", unit="MPa") == 0.12345678
    assert field_value("attributes.pressure_mpa", {"p": 123.45678}, path="p", unit="kPa") == 0.123457


def test_a_zone_of_ten_hours_or_more_is_read_whole() -> None:
    moment = field_value("t", {"t": "2026-11-01T08:00:00"}, path="t", type="datetime", timezone="+10:30")
    assert moment.utcoffset() == timedelta(hours=10, minutes=30)


def test_an_attribute_named_for_its_pollutant_is_converted_by_name() -> None:
    # co is served in mg/m³ (HJ 633): the attribute's name, not a suffix, says so.
    assert field_value("attributes.co", {"v": 1500}, path="v", unit="μg/m³") == 1.5
    assert field_value("attributes.pm25", {"v": 0.035}, path="v", unit="mg/m³") == 35.0
