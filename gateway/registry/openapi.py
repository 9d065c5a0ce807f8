"""OpenAPI 3.1 description of the admin API (served at ``/admin/connectors/openapi.json``)."""

from __future__ import annotations

from typing import Any

from connectors.spec.model import spec_json_schema

_ERROR = {"description": "An error",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
_DEPARTMENT = {"name": "department", "in": "path", "required": True, "schema": {"type": "string"}}
_SPEC_BODY = {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ConnectorSpec"}},
    "application/yaml": {"schema": {"$ref": "#/components/schemas/ConnectorSpec"}}}}


def _json(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _operation(operation_id: str, summary: str, ok: dict[str, Any], *, path_department: bool = False,
               body: dict[str, Any] | None = None, status: str = "200") -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "security": [{"bearer": []}],
        "responses": {status: ok, "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR},
    }
    if path_department:
        operation["parameters"] = [_DEPARTMENT]
    if body is not None:
        operation["requestBody"] = body
    return operation


def openapi_document() -> dict[str, Any]:
    spec_schema = spec_json_schema(ref_template="#/components/schemas/{model}")
    definitions = spec_schema.pop("$defs", {})
    version = _json("A version of a department's connector", "#/components/schemas/Version")
    return {
        "openapi": "3.1.0",
        "info": {"title": "yiwang connector registry", "version": "1",
                 "description": "Register, test, version, roll back and disable declarative connectors. Callers: "
                                "platform_admin, or department_operator with the department in the departments "
                                "claim. Secrets are write-only."},
        "paths": {
            "/admin/connectors": {
                "get": _operation("listConnectors", "Registered (spec) and code connectors",
                                  _json("The connectors", "#/components/schemas/Listing")),
                "post": _operation("registerConnector", "Register a spec (a new version if the department has one)",
                                   version, body=_SPEC_BODY, status="201"),
            },
            "/admin/connectors/test": {"post": _operation(
                "testConnector", "Dry run of a spec against the live department; nothing is stored",
                _json("What was checked and what is wrong", "#/components/schemas/TestReport"), body=_SPEC_BODY)},
            "/admin/connectors/{department}": {"get": _operation(
                "showConnector", "The current version", version, path_department=True)},
            "/admin/connectors/{department}/history": {"get": _operation(
                "connectorHistory", "Every version: author, time, action, diff",
                _json("The audit log", "#/components/schemas/History"), path_department=True)},
            "/admin/connectors/{department}/rollback": {"post": _operation(
                "rollbackConnector", "A new version equal to an earlier one", version, path_department=True,
                body={"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}}}}}})},
            "/admin/connectors/{department}/disable": {"post": _operation(
                "disableConnector", "A new, disabled version", version, path_department=True)},
            "/admin/connectors/{department}/enable": {"post": _operation(
                "enableConnector", "A new, enabled version", version, path_department=True)},
            "/admin/connectors/spec-schema.json": {"get": {
                "operationId": "specSchema", "summary": "JSON Schema of connector specs",
                "responses": {"200": {"description": "JSON Schema"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                **definitions,
                "ConnectorSpec": spec_schema,
                "Version": {"type": "object", "required": ["department", "version", "action", "enabled", "author",
                                                           "created_at", "diff", "spec"],
                            "properties": {
                                "department": {"type": "string"}, "version": {"type": "integer"},
                                "action": {"enum": ["register", "update", "rollback", "disable", "enable"]},
                                "enabled": {"type": "boolean"}, "author": {"type": "string"},
                                "created_at": {"type": "string", "format": "date-time"},
                                "rolled_back_to": {"type": ["integer", "null"]},
                                "diff": {"type": "array", "items": {"type": "object", "properties": {
                                    "path": {"type": "string"}, "old": {}, "new": {}}}},
                                "spec": {"type": "object", "description": "The spec, secrets as **********"}}},
                "History": {"type": "object", "properties": {
                    "department": {"type": "string"}, "versions": {"type": "array", "items": {"type": "object"}}}},
                "Listing": {"type": "object", "properties": {
                    "registered": {"type": "array", "items": {"type": "object"}},
                    "code": {"type": "array", "items": {"type": "object"}}}},
                "TestReport": {"type": "object", "properties": {
                    "department": {"type": "string"}, "ok": {"type": "boolean"}, "sampled": {"type": "integer"},
                    "steps": {"type": "array", "items": {"type": "object"}},
                    "problems": {"type": "array", "items": {"type": "object", "properties": {
                        "kind": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"},
                        "records": {"type": "integer"}, "example": {"type": "string"}}}},
                    "unmapped_fields": {"type": "array", "items": {"type": "string"}}}},
                "Errors": {"type": "object", "properties": {"errors": {"type": "array", "items": {
                    "type": "object", "properties": {"message": {"type": "string"},
                                                     "extensions": {"type": "object"}}}}}},
            },
        },
    }
