"""The registry's storage: every change to a department's spec is a new row (version, author, time, JSON diff), so
the history is the audit log and a rollback is one more version. SQLite by default; PostgreSQL for several instances,
which are woken by ``NOTIFY`` on every change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, UniqueConstraint, func, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, create_engine, select

from connectors.spec.model import ConnectorSpec
from gateway.registry.secrets import SecretBox

NOTIFY_CHANNEL = "yiwang_connector_registry"
MASKED = "**********"


class ConnectorVersion(SQLModel, table=True):
    __tablename__ = "yiwang_connector_versions"
    __table_args__ = (UniqueConstraint("department", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(index=True)
    version: int
    action: str  # register, update, rollback, disable, enable
    enabled: bool
    spec_json: str  # secrets sealed
    author: str
    created_at: datetime
    diff_json: str
    rolled_back_to: int | None = None


class NotFound(Exception):
    pass


def _engine(url: str, schema: str | None) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        # One connection shared by every thread, or each worker thread would see its own empty database.
        return create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    engine = create_engine(parsed, pool_pre_ping=True)
    if schema:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """The changes from ``old`` to ``new`` as ``{path, old, new}`` entries (secrets are masked in both)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            changes += diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return changes
    return [] if old == new else [{"path": path or "$", "old": old, "new": new}]


class RegistryStore:
    def __init__(self, url: str, secrets: SecretBox, *, schema: str | None = None) -> None:
        self.engine = _engine(url, schema)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self.secrets = secrets
        SQLModel.metadata.create_all(self.engine, tables=[SQLModel.metadata.tables[ConnectorVersion.__tablename__]])

    def close(self) -> None:
        self.engine.dispose()

    # --- reads -------------------------------------------------------------------------------------------------
    def revision(self) -> int:
        with Session(self.engine) as session:
            return int(session.exec(select(func.coalesce(func.max(ConnectorVersion.id), 0))).one() or 0)

    def latest(self, department: str) -> ConnectorVersion | None:
        with Session(self.engine) as session:
            statement = (select(ConnectorVersion).where(ConnectorVersion.department == department)
                         .order_by(ConnectorVersion.version.desc()).limit(1))  # type: ignore[attr-defined]
            return session.exec(statement).first()

    def history(self, department: str) -> list[ConnectorVersion]:
        with Session(self.engine) as session:
            statement = (select(ConnectorVersion).where(ConnectorVersion.department == department)
                         .order_by(ConnectorVersion.version))  # type: ignore[arg-type]
            rows = list(session.exec(statement))
        if not rows:
            raise NotFound(department)
        return rows

    def current(self) -> list[ConnectorVersion]:
        """The latest version of every department."""
        with Session(self.engine) as session:
            newest = (select(ConnectorVersion.department, func.max(ConnectorVersion.version).label("version"))
                      .group_by(ConnectorVersion.department).subquery())
            statement = select(ConnectorVersion).join(
                newest, (ConnectorVersion.department == newest.c.department)  # type: ignore[arg-type]
                & (ConnectorVersion.version == newest.c.version)).order_by(ConnectorVersion.department)
            return list(session.exec(statement))

    def spec_of(self, row: ConnectorVersion) -> ConnectorSpec:
        return ConnectorSpec.model_validate(self.secrets.open(orjson.loads(row.spec_json)))

    # --- changes -----------------------------------------------------------------------------------------------
    def register(self, spec: ConnectorSpec, author: str) -> ConnectorVersion:
        previous = self.latest(spec.department)
        action = "register" if previous is None else "update"
        return self._append(spec, author, action, enabled=True, previous=previous)

    def set_enabled(self, department: str, enabled: bool, author: str) -> ConnectorVersion:
        previous = self.latest(department)
        if previous is None:
            raise NotFound(department)
        return self._append(self.spec_of(previous), author, "enable" if enabled else "disable", enabled=enabled,
                            previous=previous)

    def rollback(self, department: str, version: int, author: str) -> ConnectorVersion:
        target = next((row for row in self.history(department) if row.version == version), None)
        if target is None:
            raise NotFound(f"{department} version {version}")
        return self._append(self.spec_of(target), author, "rollback", enabled=target.enabled,
                            previous=self.latest(department), rolled_back_to=version)

    def _append(self, spec: ConnectorSpec, author: str, action: str, *, enabled: bool,
                previous: ConnectorVersion | None, rolled_back_to: int | None = None) -> ConnectorVersion:
        masked = spec.to_document()
        before: dict[str, Any] = {}
        if previous is not None:
            old_spec = self.spec_of(previous)
            before = {"enabled": previous.enabled, "spec": old_spec.to_document()}
            if old_spec.secrets() != spec.secrets():
                masked_paths = set(spec.secrets()) | set(old_spec.secrets())
                before["secrets"] = dict.fromkeys(masked_paths, "(previous)")
        after: dict[str, Any] = {"enabled": enabled, "spec": masked}
        if "secrets" in before:
            after["secrets"] = dict.fromkeys(before["secrets"], "(changed)")
        sealed = self.secrets.seal(spec.to_document(), spec.secrets())
        row = ConnectorVersion(
            department=spec.department, version=(previous.version + 1) if previous else 1, action=action,
            enabled=enabled, spec_json=orjson.dumps(sealed).decode(), author=author,
            created_at=datetime.now(UTC), diff_json=orjson.dumps(diff(before, after)).decode(),
            rolled_back_to=rolled_back_to)
        with Session(self.engine) as session:
            session.add(row)
            if self.is_postgres:
                session.execute(text("SELECT pg_notify(:channel, :department)"),
                                {"channel": NOTIFY_CHANNEL, "department": spec.department})
            session.commit()
            session.refresh(row)
        return row


def describe(row: ConnectorVersion) -> dict[str, Any]:
    """A version as the admin API shows it: no secret, sealed or not."""
    document = orjson.loads(row.spec_json)
    return {"department": row.department, "version": row.version, "action": row.action, "enabled": row.enabled,
            "author": row.author, "created_at": row.created_at.isoformat(), "rolled_back_to": row.rolled_back_to,
            "diff": orjson.loads(row.diff_json), "spec": _mask(document)}


def _mask(node: Any) -> Any:
    if isinstance(node, dict):
        if "$encrypted" in node:
            return MASKED
        return {key: _mask(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_mask(value) for value in node]
    return node
