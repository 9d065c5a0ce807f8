"""The spec's ``operations``: how to ask the department for components (request parameters bound to the gateway's
query, pagination styles, batch reads, health) and where the records are in its answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from connectors.records import ComponentStatus
from connectors.spec.fields import STATUSES
from connectors.spec.problems import SpecRuleError
from connectors.spec.strict import Expression, Strict, jmespath_expression


class QueryBinding(Strict):
    """A request parameter filled from the gateway's query (``from``), in the department's terms."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    source: Literal["region_codes", "class_codes", "grid_code", "statuses", "bbox", "near"] = Field(alias="from")
    join: str = Field(",", description="Separator of list values")
    values: dict[str, str] | None = Field(None, description=(
        f"For statuses (required there): gateway status → department value, for every status: {STATUSES}"))
    format: str | None = Field(None, description=(
        "For bbox ({min_lng},{min_lat},{max_lng},{max_lat}) and near ({lng},{lat},{radius_m}), in the department's "
        "coordinate system"))

    @model_validator(mode="after")
    def _complete(self) -> QueryBinding:
        if self.source in ("bbox", "near") and not self.format:
            example = "{min_lng},{min_lat},{max_lng},{max_lat}" if self.source == "bbox" else "{lng},{lat},{radius_m}"
            raise SpecRuleError("format", f"a {self.source} parameter needs a format, e.g. format: \"{example}\"")
        if self.source == "statuses":
            missing = [s.value for s in ComponentStatus if s.value not in (self.values or {})]
            if missing:
                raise SpecRuleError("values", f"every gateway status must be mapped to the department's value; "
                                              f"add {', '.join(missing)} (all of {STATUSES})")
        return self


class PagePagination(Strict):
    style: Literal["page"]
    page_param: str = "page"
    size_param: str = "size"
    first_page: int = 1
    max_size: int = Field(100, gt=0)


class OffsetPagination(Strict):
    style: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    max_size: int = Field(100, gt=0)


class CursorPagination(Strict):
    style: Literal["cursor"]
    cursor_param: str = "cursor"
    size_param: str = "limit"
    next_cursor: Expression = Field(description="Where the next page's cursor is (null on the last page)")
    max_size: int = Field(100, gt=0)


class LinkHeaderPagination(Strict):
    style: Literal["link_header"]
    size_param: str = "per_page"
    max_size: int = Field(100, gt=0)


Pagination = Annotated[PagePagination | OffsetPagination | CursorPagination | LinkHeaderPagination,
                       Field(discriminator="style")]


class Answer(Strict):
    """Where the records are in an answer, and how to tell a refusal inside a 200 (an envelope code)."""

    items: Expression = Field(description="The list of records")
    check: Expression | None = Field(None, description="Must be true for the answer to be accepted")
    error_message: Expression | None = Field(None, description="The department's message when check fails")

    @field_validator("items", "check", "error_message")
    @classmethod
    def _valid_expression(cls, value: str | None) -> str | None:
        return value if value is None else jmespath_expression(value)


class SearchOperation(Answer):
    method: Literal["GET"] = "GET"
    path: str
    params: dict[str, QueryBinding | str] = Field(default_factory=dict, description="Constants or query bindings")
    pagination: Pagination
    total: Expression | None = Field(None, description="Count of all matches")
    total_header: str | None = Field(None, description="Response header with the count of all matches")

    @model_validator(mode="after")
    def _has_total(self) -> SearchOperation:
        if (self.total is None) == (self.total_header is None):
            raise ValueError("give exactly one of total (a JMESPath expression for the count of all matches) and "
                             "total_header (the response header with it)")
        if self.total is not None:
            jmespath_expression(self.total)
        if isinstance(self.pagination, CursorPagination):
            jmespath_expression(self.pagination.next_cursor)
        return self


class BatchOperation(Answer):
    method: Literal["GET", "POST"] = "GET"
    path: str
    ids_param: str = Field(description="Query parameter (GET, joined) or JSON body field (POST, a list)")
    join: str = ","
    max_ids: int = Field(100, gt=0)


class HealthOperation(Strict):
    path: str
    check: Expression | None = Field(None, description="Must be true when the department is healthy")

    @field_validator("check")
    @classmethod
    def _valid_check(cls, value: str | None) -> str | None:
        return value if value is None else jmespath_expression(value)


class Operations(Strict):
    search_components: SearchOperation
    get_components: BatchOperation | None = None
    health: HealthOperation
