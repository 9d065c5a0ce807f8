"""No "Did you mean …?" in production: a name the caller misspelt is not answered with the names it may use.

graphql-core leaves suggestions out of every message when asked (``hide_suggestions``): validation (fields,
arguments, types, enum values, input fields) is asked by ``gateway.extensions.checked_operations``; variable and
argument coercion at execution by the executor class made here, so nothing in graphql-core is patched. A last
pass removes any suggestion another path might still produce.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError
from graphql.execution import Executor

# graphql-core's did_you_mean: " Did you mean 'a', 'b', or 'c'?" / " Did you mean the enum value 'X'?" (names never
# contain a question mark)
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def hiding_suggestions(executor_class: type[Executor]) -> type[Executor]:
    """``executor_class``, coercing variables and arguments without suggestions in its errors."""

    class QuietExecutor(executor_class):  # type: ignore[valid-type,misc]
        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            kwargs["hide_suggestions"] = True
            return super().build(*args, **kwargs)

    QuietExecutor.__name__ = QuietExecutor.__qualname__ = f"Quiet{executor_class.__name__}"
    return QuietExecutor


def remove_suggestions(errors: list[GraphQLError]) -> None:
    for error in errors:
        if "Did you mean" in error.message:
            error.message = SUGGESTION.sub("", error.message)
