"""What every part of a connector spec shares: the strict base model (unknown keys are errors, values frozen),
JMESPath expressions checked when the spec is read (https://jmespath.org), and rule errors placed at their key."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict

from connectors.spec.problems import SpecRuleError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def jmespath_expression(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0].removesuffix(", for expression:")
        raise ValueError(f"{value!r} is not a valid JMESPath expression (https://jmespath.org): {reason}") from exc
    return value


Expression = str  # a JMESPath expression over the department's JSON


def at_key(key: str, check: Any, *values: Any) -> Any:
    """``check(*values)``, its ValueError raised as a SpecRuleError at ``key``."""
    try:
        return check(*values)
    except SpecRuleError as exc:
        raise SpecRuleError(f"{key}.{exc.key}", str(exc)) from exc
    except ValueError as exc:
        raise SpecRuleError(key, str(exc)) from exc
