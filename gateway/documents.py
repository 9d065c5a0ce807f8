"""What the gateway works out from a parsed document once — validation, limits, privacy — remembered per document.

Entries are keyed by the document's identity: strawberry's parser cache hands out the same ``DocumentNode`` for the
same text, and each entry holds its document, so an identity cannot be reused while the entry lives. The least
recently used entry goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from graphql import DocumentNode

V = TypeVar("V")
DEFAULT_DOCUMENTS_KEPT = 512


class DocumentMemo(Generic[V]):
    def __init__(self, kept: int = DEFAULT_DOCUMENTS_KEPT) -> None:
        if kept < 1:
            raise ValueError("kept must be at least 1")
        self.kept = kept
        self._entries: OrderedDict[tuple[int, Hashable], tuple[DocumentNode, V]] = OrderedDict()

    def get(self, document: DocumentNode, extra: Hashable, compute: Callable[[], V]) -> V:
        """The value for ``document`` (and ``extra``: an operation name, a rule set), computed on first use."""
        key = (id(document), extra)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is document:
            self._entries.move_to_end(key)
            return entry[1]
        value = compute()
        self._entries[key] = (document, value)
        if len(self._entries) > self.kept:
            self._entries.popitem(last=False)
        return value
