"""Apply the numbered up/down SQL migrations shipped in this package, with a version table."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from stratix_queue.backends.base import SqlBackend
from stratix_queue.backends.session import Session
from stratix_queue.clock import to_utc
from stratix_queue.errors import MigrationError, StratixQueueError
from stratix_queue.sqlfile import PACKAGE_DIR, read_package_file, split_statements

log = logging.getLogger("stratix_queue.migrations")
_FILE = re.compile(r"^(\d{3})_(\w+)\.(up|down)\.sql$")
LEGACY_VERSION = 1  # the pre-update layout; a database that has it but no version table


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    up: str = field(repr=False)
    down: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Step:
    direction: str  # "up" or "down"
    migration: Migration

    @property
    def sql(self) -> str:
        return self.migration.up if self.direction == "up" else self.migration.down


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    applied_at: datetime | None


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    current: int
    latest: int
    applied: list[AppliedMigration]
    pending: list[Migration]
    legacy: bool  # a pre-update database without a version table


def load_migrations(dialect: str) -> list[Migration]:
    """Every migration of one backend, in version order; up and down must both exist."""
    parts: dict[int, dict[str, str]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir(os.path.join(PACKAGE_DIR, "migrations", dialect)):
        match = _FILE.match(entry)
        if match is None:
            continue
        version = int(match.group(1))
        names[version] = match.group(2)
        parts.setdefault(version, {})[match.group(3)] = read_package_file(
            "migrations", dialect, entry
        )
    migrations = []
    for version in sorted(parts):
        if set(parts[version]) != {"up", "down"}:
            raise MigrationError(f"migration {version:03d} of {dialect} lacks an up or down file")
        migrations.append(
            Migration(version, names[version], parts[version]["up"], parts[version]["down"])
        )
    return migrations


class MigrationRunner:
    """Plans and applies migrations for one backend under a migration lock."""

    def __init__(self, backend: SqlBackend) -> None:
        self.backend = backend
        self.migrations = load_migrations(backend.dialect)
        self.latest = self.migrations[-1].version if self.migrations else 0

    # -- reading ----------------------------------------------------------------------------

    def _exists(self, session: Session, table: str) -> bool:
        rows = session.run(self.backend.queries["table_exists"], {"table": table}).rows
        return bool(rows)

    def _applied(self, session: Session) -> tuple[list[AppliedMigration], bool]:
        if self._exists(session, "stratix_queue_migrations"):
            rows = session.run(self.backend.queries["applied_migrations"]).rows
            applied = [
                AppliedMigration(int(r["version"]), r["name"], to_utc(r["applied_at"]))
                for r in rows
            ]
            return applied, False
        if self._exists(session, "queue_jobs"):
            legacy = self.migrations[LEGACY_VERSION - 1]
            return [AppliedMigration(legacy.version, legacy.name, None)], True
        return [], False

    def status(self) -> MigrationStatus:
        if not self.backend.exists():  # e.g. no SQLite file yet: version 0, nothing created
            return MigrationStatus(0, self.latest, [], list(self.migrations), False)
        with self.backend.session() as session:
            applied, legacy = self._applied(session)
        current = max((a.version for a in applied), default=0)
        pending = [m for m in self.migrations if m.version > current]
        return MigrationStatus(current, self.latest, applied, pending, legacy)

    def plan(self, current: int, target: int | None) -> list[Step]:
        to = self.latest if target is None else target
        if not 0 <= to <= self.latest:
            raise MigrationError(
                f"no migration version {to}: versions run from 0 (empty) to {self.latest}"
            )
        if to >= current:
            return [Step("up", m) for m in self.migrations if current < m.version <= to]
        return [Step("down", m) for m in reversed(self.migrations) if to < m.version <= current]

    def sql(self, target: int | None = None) -> str:
        """The SQL a DBA would run by hand to go from the current version to ``target``."""
        status = self.status()
        chunks = []
        if status.legacy:
            chunks.append(self._sql_record_legacy())
        for step in self.plan(status.current, target):
            chunks.append(
                f"-- {step.direction}: {step.migration.version:03d}_{step.migration.name}"
            )
            chunks.append(step.sql.strip())
            chunks.append(self._sql_bookkeeping(step))
        return "\n\n".join(chunks) + "\n"

    def _sql_record_legacy(self) -> str:
        create = self.backend.queries["create_migrations_table"]
        legacy = self.migrations[LEGACY_VERSION - 1]
        return f"{create};\n" + self._literal_record(legacy)

    def _sql_bookkeeping(self, step: Step) -> str:
        version = step.migration.version
        if step.direction == "down":
            return f"DELETE FROM stratix_queue_migrations WHERE version = {version};"
        prefix = ""
        if version == 1:
            prefix = self.backend.queries["create_migrations_table"] + ";\n"
        return prefix + self._literal_record(step.migration)

    @staticmethod
    def _literal_record(migration: Migration) -> str:
        return (
            "INSERT INTO stratix_queue_migrations (version, name) "
            f"VALUES ({migration.version}, '{migration.name}');"
        )

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[Session]:
        queries = self.backend.queries
        with self.backend.session() as session:
            session.run(queries["lock_migrations"])
            try:
                yield session
            finally:
                session.run(queries["unlock_migrations"])

    def migrate(self, target: int | None = None) -> list[Step]:
        """Bring the schema to ``target`` (default: latest); returns the steps applied."""
        self.plan(0, target)  # a bad target fails here, before anything is written
        self.backend.create_missing = True  # migrating is what creates a SQLite file
        done: list[Step] = []
        with self._locked() as session:
            current = self._prepare(session)
            for step in self.plan(current, target):
                if self._apply(session, step):
                    done.append(step)
        return done

    def _prepare(self, session: Session) -> int:
        """Create the version table and adopt a pre-update database as version 1, inside one
        write transaction (on SQLite that is the only lock there is); returns the version."""
        queries = self.backend.queries
        session.begin()
        try:
            applied, legacy = self._applied(session)
            session.run(queries["create_migrations_table"])
            if legacy:
                log.info("found a pre-update queue database; recording it as version 1")
                record = {"version": applied[0].version, "name": applied[0].name}
                session.run(queries["record_migration"], record)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return max((a.version for a in applied), default=0)

    def _apply(self, session: Session, step: Step) -> bool:
        """Apply one step; False if another migrator applied it meanwhile (SQLite has no lock
        but BEGIN IMMEDIATE, so the version is read again inside the transaction)."""
        migration = step.migration
        label = f"{migration.version:03d}_{migration.name} ({step.direction})"
        queries = self.backend.queries
        session.begin()
        try:
            rows = session.run(queries["applied_migrations"]).rows
            if (step.direction == "up") == (migration.version in {int(r["version"]) for r in rows}):
                session.rollback()
                return False
            for statement in split_statements(step.sql):
                session.run(statement)
            if step.direction == "up":
                session.run(
                    queries["record_migration"],
                    {"version": migration.version, "name": migration.name},
                )
            else:
                session.run(queries["forget_migration"], {"version": migration.version})
            session.commit()
        except Exception as exc:
            session.rollback()
            translated = exc if isinstance(exc, StratixQueueError) else None
            if translated is None:
                translated = self.backend.translate_error(exc)
            raise MigrationError(f"migration {label} failed: {translated or exc}") from exc
        log.info("applied migration %s", label)
        return True
