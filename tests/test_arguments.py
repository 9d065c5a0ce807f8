"""Literal field arguments are coerced once per parsed document; arguments with variables, and arguments that fail
to coerce, every time — and every execution answers exactly as without the cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from graphql.execution import executor, values
from strawberry.extensions import ParserCache

from gateway import arguments
from gateway.execution import FastListExecutionContext


@strawberry.input
class Window:
    start: int = 0
    tags: list[str] | None = None


@strawberry.type
class Query:
    @strawberry.field
    def echo(self, window: Window, label: str = "none") -> str:
        return f"{label}:{window.start}:{','.join(window.tags or [])}"

    @strawberry.field
    def mutate_then_echo(self, window: Window) -> str:
        answer = f"{window.start}:{','.join(window.tags or [])}"
        if window.tags is not None:
            window.tags.append("changed")  # a resolver changing its input must not change the next request's
        return answer


@pytest.fixture
def coerced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The field names graphql-core coerced arguments for (an empty cache, so earlier tests do not count)."""
    calls: list[str] = []
    original = arguments._coerce

    def counting(type_def: Any, node: Any, *args: Any) -> Any:
        calls.append(node.name.value)
        return original(type_def, node, *args)

    monkeypatch.setattr(arguments, "_coerce", counting)
    monkeypatch.setattr(arguments, "_CACHE", {})
    return calls


def _schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, execution_context_class=FastListExecutionContext,
                             extensions=[lambda: ParserCache(maxsize=10)])


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    """The cache in graphql-core's executor, as an app with ``fast_path_arguments`` (the default) puts it there."""
    arguments.install(True)
    yield
    arguments.install(True)


def test_install_puts_the_cache_in_graphql_cores_executor_and_takes_it_out() -> None:
    assert executor.get_argument_values is arguments.get_argument_values and arguments.installed()
    assert arguments.install(False) is False
    assert executor.get_argument_values is values.get_argument_values and not arguments.installed()
    assert arguments.install(True) is True
    assert executor.get_argument_values is arguments.get_argument_values


def test_importing_the_gateway_patches_nothing() -> None:
    import subprocess
    import sys

    probe = ("import gateway.app, gateway.execution, gateway.arguments; from graphql.execution import executor, "
             "values; print(executor.get_argument_values is values.get_argument_values)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_literal_arguments_are_coerced_once_per_document(coerced: list[str]) -> None:
    schema = _schema()
    query = '{ echo(window: {start: 3, tags: ["a", "b"]}, label: "x") }'
    answers = [schema.execute_sync(query) for _ in range(3)]
    assert [a.data for a in answers] == [{"echo": "x:3:a,b"}] * 3
    assert coerced == ["echo"]


def test_arguments_with_variables_are_coerced_every_time(coerced: list[str]) -> None:
    schema = _schema()
    query = "query($start: Int!) { echo(window: {start: $start, tags: [\"t\"]}) }"
    first = schema.execute_sync(query, variable_values={"start": 1})
    second = schema.execute_sync(query, variable_values={"start": 2})
    assert (first.data, second.data) == ({"echo": "none:1:t"}, {"echo": "none:2:t"})
    assert coerced == ["echo", "echo"]


def test_a_bad_literal_fails_every_time(coerced: list[str]) -> None:
    schema = _schema()
    query = '{ echo(window: {start: 2147483648}) }'  # outside Int: refused by validation, never executed
    for _ in range(2):
        result = schema.execute_sync(query)
        assert result.errors and "Int cannot represent" in result.errors[0].message
    assert coerced == []


def test_a_resolver_changing_its_input_does_not_change_the_next_request(coerced: list[str]) -> None:
    schema = _schema()
    query = '{ mutateThenEcho(window: {start: 1, tags: ["a"]}) }'
    answers = [schema.execute_sync(query).data for _ in range(3)]
    assert answers == [{"mutateThenEcho": "1:a"}] * 3
    assert coerced == ["mutateThenEcho"]
