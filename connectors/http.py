"""Calls to department systems, with every failure turned into the matching ``UpstreamError``.

``send`` and the ``get_json``/``post_json``/``get_xml`` helpers go through ``connectors.client.DepartmentClient``
(the one HTTP seam); ``translating`` and the parsers do the rest. Connectors never let an httpx exception or a
parse error escape: a timeout becomes ``UpstreamTimeout``, a refused
connection, a 5xx or rejected credentials ``UpstreamUnavailable``, and an answer that is not what the dialect
promises ``UpstreamBadResponse``. The errors' ``detail`` says what happened (for logs, traces and the department's
operator), chained to the exception behind it; callers only ever see the code's generic ``message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

import httpx
import orjson

from connectors.client import DepartmentClient, describe_failure
from connectors.errors import UpstreamBadResponse, UpstreamError

__all__ = ["describe_failure", "get_json", "get_xml", "parse_json", "parse_xml", "post_json", "send", "translating"]


class translating:  # used like a function: ``with translating("water", "facility records"):``
    """Turn a mapping failure (missing field, wrong type, bad value) into ``UpstreamBadResponse``.

    A class rather than a ``@contextmanager`` generator: connectors enter it per page and per record field group,
    and a generator-based context manager costs several times as much to enter and leave."""

    __slots__ = ("department", "what")

    def __init__(self, department: str, what: str = "response") -> None:
        self.department = department
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: Any) -> None:
        if exc is None or isinstance(exc, UpstreamError) or not isinstance(exc, MAPPING_FAILURES):
            return  # nothing to translate: an exception goes on as it is
        department = self.department
        raise UpstreamBadResponse(department, f"{department}: unexpected {self.what}: {describe_failure(exc)}"
                                  ) from exc


MAPPING_FAILURES = (KeyError, ValueError, TypeError, AttributeError, IndexError, ArithmeticError)


async def send(
    client: DepartmentClient,
    department: str,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    data: Mapping[str, Any] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
) -> httpx.Response:
    """Send one request for ``department``; return the response only if it is a 2xx (``DepartmentClient.request``)."""
    return await client.request(method, url, params=params, headers=headers, json=json, data=data, auth=auth,
                                department=department)


def parse_json(department: str, response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer is not valid JSON ({describe_failure(exc)})"
                                  ) from exc


def parse_xml(department: str, response: httpx.Response) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer is not valid XML ({describe_failure(exc)})"
                                  ) from exc


async def get_json(
    client: DepartmentClient, department: str, url: str, *, params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    return parse_json(department, await send(client, department, "GET", url, params=params, headers=headers))


async def post_json(
    client: DepartmentClient, department: str, url: str, body: Any, *, headers: Mapping[str, str] | None = None,
) -> Any:
    return parse_json(department, await send(client, department, "POST", url, json=body, headers=headers))


async def get_xml(
    client: DepartmentClient, department: str, url: str, *, params: Mapping[str, Any] | None = None,
) -> ElementTree.Element:
    return parse_xml(department, await send(client, department, "GET", url, params=params))
