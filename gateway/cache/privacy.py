"""Which operations depend on who the caller is, not only on what the caller may see.

A field marked ``@cacheControl(scope: PRIVATE)`` (``schema.directives.PRIVATE``) has a value of its own per caller —
``viewer.subject`` is the token's subject. A whole-response cache entry of an operation that selects such a field is
filed under the caller's identity (Apollo Router's ``private_id``), so one caller's answer never reaches another.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLSchema, TypeInfo, TypeInfoVisitor, Visitor, visit

from gateway.auth.principal import Principal
from gateway.documents import DocumentMemo
from schema.directives import is_private

ANALYSES_KEPT = 512


class _PrivateFieldFinder(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found = False

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        definition = self.type_info.get_field_def()
        strawberry_field = definition.extensions.get("strawberry-definition") if definition is not None else None
        if strawberry_field is not None and is_private(strawberry_field):
            self.found = True
            return self.BREAK
        return None


def selects_private_field(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """The document (any of its operations or fragments: an over-estimate is safe) selects a PRIVATE field."""
    type_info = TypeInfo(schema)
    finder = _PrivateFieldFinder(type_info)
    visit(document, TypeInfoVisitor(type_info, finder))
    return finder.found


class PrivacyAnalysis:
    """``selects_private_field`` remembered per document."""

    def __init__(self, kept: int = ANALYSES_KEPT) -> None:
        self._results: DocumentMemo[bool] = DocumentMemo(kept)

    def is_private(self, schema: GraphQLSchema, document: DocumentNode) -> bool:
        return self._results.get(document, None, lambda: selects_private_field(schema, document))


def private_id(principal: Principal) -> tuple[str | None, str, str]:
    """Who the caller is: the token's issuer and subject, and the region it governs."""
    return principal.issuer, principal.subject, principal.region_code
