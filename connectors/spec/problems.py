"""Spec validation problems as sentences for department IT: each names the spec key as a dotted path into the YAML
(``operations.search_components.params.zt.values``, ``regions[2]``) and what to write there. Pydantic's own locations
(union members such as ``function-after[…]``), error types and URLs never reach the reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

SECRET_KEYS = frozenset({"key", "client_secret"})
MAX_SHOWN_INPUT = 60
# Patterns of the spec model, in words.
PATTERN_WORDS: dict[str, str] = {
    r"^[0-9]{6}$": 'a 6-digit GB/T 2260 region code in quotes, e.g. "370811"',
    r"^[0-9]{4}$": 'a 4-digit component class code (GB/T 30428.2) in quotes, e.g. "0111"',
    r"^[a-z][a-z0-9_]{1,31}$": "2–32 lower-case letters, digits or _ starting with a letter, e.g. gas",
}
# What a value of each kind is called, for "must be … not …" sentences.
KIND_WORDS: dict[str, str] = {
    "string_type": "text", "model_type": "a mapping (key: value)", "dict_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)", "list_type": "a list", "tuple_type": "a list",
    "int_type": "a whole number", "int_parsing": "a whole number", "float_type": "a number",
    "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
    "int_from_float": "a whole number",
}


class SpecRuleError(ValueError):
    """A rule of a spec section broken at one of its keys (``key`` is relative to the section)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class SpecProblem:
    key: str  # dotted path into the document; "" for the whole spec
    message: str  # a sentence that starts with the key

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "message": self.message}


class SpecInvalid(ValueError):
    """A spec document that is not valid, with every problem found."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problems" if len(problems) != 1 else "1 problem"
        super().__init__(f"the spec is not valid ({count}): {problems[0].message}" if problems
                         else "the spec is not valid")


def explain(exc: ValidationError, data: Any, schema: dict[str, Any]) -> list[SpecProblem]:
    """``exc`` (from validating ``data``) as one problem per key, in document order."""
    grouped: dict[str, list[tuple[ErrorDetails, Any, bool]]] = {}
    for error in exc.errors(include_url=False):
        key, node, found = _key_of(error["loc"], data, missing=error["type"] == "missing")
        grouped.setdefault(key, []).append((error, node, found))
    problems: list[SpecProblem] = []
    for key, errors in grouped.items():
        mismatches = [e for e, _, _ in errors if e["type"] in KIND_WORDS]
        others = [(e, node, found) for e, node, found in errors if e["type"] not in KIND_WORDS]
        deeper = any(other.startswith((f"{key}.", f"{key}[")) for other in grouped if key)
        if others:  # a union member that accepted the kind of value explains better than the ones that did not
            for error, node, found in others:
                problem = _problem(key, error, node, found, data, schema)
                if problem not in problems:
                    problems.append(problem)
        elif mismatches and not deeper:
            kinds = " or ".join(dict.fromkeys(KIND_WORDS[e["type"]] for e in mismatches))
            problems.append(SpecProblem(key, f"{_name(key)} must be {kinds}{_not(key, errors[0][1])}"
                                             f"{_hint(schema, data, key)}"))
    return problems


def _key_of(loc: tuple[int | str, ...], data: Any, *, missing: bool) -> tuple[str, Any, bool]:
    """The dotted key of a pydantic location (dropping union-member labels), the input there, and whether it is in the
    document (a ``missing`` key is not; a missing list item is reported on the list)."""
    parts: list[str] = []
    node, found = data, True
    for index, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            parts.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(f"[{part}]")
            node = node[part]
        elif missing and index == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            parts.append(part)
            node, found = None, False
    return ".".join(parts).replace(".[", "["), node, found


def _name(key: str) -> str:
    return key or "the spec"


def _problem(key: str, error: ErrorDetails, node: Any, found: bool, data: Any,
             schema: dict[str, Any]) -> SpecProblem:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, SpecRuleError):
            key = f"{key}.{cause.key}" if key else cause.key
        text = str(cause) if cause is not None else str(error["msg"]).removeprefix("Value error, ")
        return SpecProblem(key, f"{_name(key)}: {text}")
    if kind == "missing" and isinstance(node, list):
        return SpecProblem(key, f"{key} has too few items{_hint(schema, data, key, inherit=True)}")
    if kind == "missing":
        return SpecProblem(key, f"{key} is required: add it{_hint(schema, data, key)}")
    if kind == "extra_forbidden":
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        allowed = _allowed_keys(schema, data, parent)
        where = f"under {parent}" if parent else "at the top level"
        listing = f"; the keys {where} are {', '.join(allowed)}" if allowed else ""
        shown = key if key.rsplit(".", 1)[-1] else f"{key}\"\""  # an empty key, as YAML allows
        return SpecProblem(key, f"{shown} is not a spec key: remove it or correct its spelling{listing}")
    if kind == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(str(ctx.get("pattern")), f"text matching {ctx.get('pattern')}")
        return SpecProblem(key, f"{key} must be {words}{_not(key, node)}")
    if kind == "literal_error":
        return SpecProblem(key, f"{key} must be one of {ctx.get('expected')}{_not(key, node)}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "type")).strip("'")
        tags = ctx.get("expected_tags") or ", ".join(repr(t) for t in _tags(schema, data, key, field))
        full = f"{key}.{field}" if key else field
        if "tag" not in ctx:
            return SpecProblem(full, f"{full} is required: write one of {tags}")
        return SpecProblem(full, f"{full} must be one of {tags} ({ctx['tag']!r} is not one of them)")
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        size = "at least" if kind == "too_short" else "at most"
        return SpecProblem(key, f"{key} must have {size} {bound} item{'s' if bound != 1 else ''}"
                                f"{_hint(schema, data, key)}")
    text = str(error["msg"]).replace("Input should be", "must be").replace("Value should be", "must be")
    return SpecProblem(key, f"{key} {text[0].lower()}{text[1:]}{_not(key, node) if found else ''}")


def _not(key: str, node: Any) -> str:
    if isinstance(node, dict | list) or node is None or key.rsplit(".", 1)[-1] in SECRET_KEYS:
        return ""
    shown = repr(node)
    return f", not {shown if len(shown) <= MAX_SHOWN_INPUT else shown[:MAX_SHOWN_INPUT] + '…'}"


# --- the published JSON Schema, walked along a key --------------------------------------------------------------------
def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _branches(schema: dict[str, Any], node: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The object schemas a value may be under ``node``: the discriminated one if the value names it."""
    node = _resolve(schema, node)
    options = [_resolve(schema, n) for n in node.get("oneOf", node.get("anyOf", []))] or [node]
    objects = [o for o in options if "properties" in o or "additionalProperties" in o or "items" in o
               or "prefixItems" in o]
    tag_field = (node.get("discriminator") or {}).get("propertyName")
    if tag_field and isinstance(value, dict):
        chosen = [o for o in objects if o.get("properties", {}).get(tag_field, {}).get("const") == value.get(tag_field)]
        return chosen or objects
    return objects


def _schema_at(schema: dict[str, Any], data: Any, key: str) -> tuple[list[dict[str, Any]], Any]:
    nodes, value = [schema], data
    for part in _split(key):
        following: list[dict[str, Any]] = []
        for node in nodes:
            for branch in _branches(schema, node, value):
                if isinstance(part, int):
                    items = branch.get("prefixItems", [])
                    following += [items[part]] if part < len(items) else [branch["items"]] if "items" in branch else []
                elif part in branch.get("properties", {}):
                    following.append(branch["properties"][part])
                elif isinstance(branch.get("additionalProperties"), dict):
                    following.append(branch["additionalProperties"])
        nodes = following
        value = _child(value, part)
    return nodes, value


def _split(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in key.replace("[", ".[").split(".") if key else []:
        if piece.startswith("["):
            parts.append(int(piece[1:-1]))
        elif piece:
            parts.append(piece)
    return parts


def _child(value: Any, part: str | int) -> Any:
    if isinstance(value, dict) and isinstance(part, str):
        return value.get(part)
    if isinstance(value, list) and isinstance(part, int) and part < len(value):
        return value[part]
    return None


def _allowed_keys(schema: dict[str, Any], data: Any, key: str) -> list[str]:
    nodes, value = _schema_at(schema, data, key)
    keys: list[str] = []
    for node in nodes:
        for branch in _branches(schema, node, value):
            keys += [k for k in branch.get("properties", {}) if k not in keys]
    return keys


def _tags(schema: dict[str, Any], data: Any, key: str, field: str) -> list[str]:
    nodes, _ = _schema_at(schema, data, key)
    return [branch["properties"][field]["const"] for node in nodes for branch in _branches(schema, node, None)
            if "const" in branch.get("properties", {}).get(field, {})]


def _hint(schema: dict[str, Any], data: Any, key: str, *, inherit: bool = False) -> str:
    """The schema's description of the key (or, ``inherit``ing, of the nearest enclosing key that has one)."""
    parts = _split(key)
    for end in range(len(parts), len(parts) - 1 if not inherit and parts else 0, -1):
        nodes, _ = _schema_at(schema, data, _join(parts[:end]))
        for node in nodes:
            description = node.get("description") or _resolve(schema, node).get("description")
            if description:
                return f" ({description})"
    return ""


def _join(parts: list[str | int]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in parts).replace(".[", "[")
