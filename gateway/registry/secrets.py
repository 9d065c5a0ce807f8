"""Secrets of specs (API keys, client secrets) encrypted at rest with a Fernet key from ``YIWANG_SECRET_KEY``."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from gateway.exceptions import ConfigurationError

ENCRYPTED_KEY = "$encrypted"


class SecretBox:
    def __init__(self, key: str | None) -> None:
        self._fernet: Fernet | None = None
        if key:
            try:
                self._fernet = Fernet(key.encode())
            except ValueError as exc:
                raise ConfigurationError("YIWANG_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes)") from exc

    def _box(self) -> Fernet:
        if self._fernet is None:
            raise ConfigurationError("set YIWANG_SECRET_KEY to register connectors with secrets")
        return self._fernet

    def seal(self, document: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
        """The document with each secret path replaced by its ciphertext."""
        for path, value in secrets.items():
            _set(document, path, {ENCRYPTED_KEY: self._box().encrypt(value.encode()).decode()})
        return document

    def open(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document with every ciphertext replaced by its plaintext."""
        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                if set(node) == {ENCRYPTED_KEY}:
                    try:
                        return self._box().decrypt(node[ENCRYPTED_KEY].encode()).decode()
                    except InvalidToken as exc:
                        raise ConfigurationError("a stored connector secret does not decrypt with "
                                                 "YIWANG_SECRET_KEY") from exc
                return {key: walk(value) for key, value in node.items()}
            if isinstance(node, list):
                return [walk(value) for value in node]
            return node

        result: dict[str, Any] = walk(document)
        return result


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        document = document[key]
    document[leaf] = value
