"""Apply the numbered up/down SQL migrations shipped in this package, with a version table.

The version table records how each version got there (its ``method``): ``applied`` (its up
script ran), ``schema`` (a fresh install from ``schema.sql``, the latest schema in one script),
``adopted`` (its schema was found in place, made by hand, and finished: see ``adoption``) or
``legacy`` (the pre-update layout, found without a version table, taken as version 1).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from stratix_queue.backends.driver import Driver
from stratix_queue.backends.session import Session
from stratix_queue.clock import to_utc
from stratix_queue.errors import MigrationError, StratixQueueError
from stratix_queue.migrations import adoption
from stratix_queue.sqlfile import parse_blocks, split_statements

log = logging.getLogger("stratix_queue.migrations")
_FILE = re.compile(r"^(\d{3})_(\w+)\.(up|down|adopt)\.sql$")
SCHEMA_FILE = "schema.sql"
VERSION_TABLE = "stratix_queue_migrations"
LEGACY_VERSION = 1  # the pre-update layout; a database that has it but no version table
APPLIED, SCHEMA, ADOPTED, LEGACY = "applied", "schema", "adopted", "legacy"  # the methods


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    up: str = field(repr=False)
    down: str = field(repr=False)
    # named blocks of NNN_name.adopt.sql: how to find and finish a hand-applied up script
    adopt: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


@dataclass(frozen=True, slots=True)
class Step:
    direction: str  # "up" or "down"
    migration: Migration
    method: str = APPLIED  # how an up step was done: applied, schema or adopted
    found: tuple[str, ...] = ()  # adopted: the parts of its up script found in place

    @property
    def sql(self) -> str:
        if self.direction == "down":
            return self.migration.down
        if not self.found:
            return self.migration.up
        return adoption.adopted_script(self.migration.up, self.migration.adopt, self.found)


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    applied_at: datetime | None
    method: str = APPLIED


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    current: int
    latest: int
    applied: list[AppliedMigration]
    pending: list[Migration]
    legacy: bool  # a pre-update database without a version table
    # version -> the parts of a pending migration found in place: `migrate` will adopt it
    in_place: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _State:
    """What the version table (or its absence) says."""

    applied: list[AppliedMigration]
    legacy: bool = False
    add_method: bool = False  # a version table made before the method column

    @property
    def current(self) -> int:
        return max((a.version for a in self.applied), default=0)


def load_migrations(folder: str) -> list[Migration]:
    """Every migration in a database's migrations folder, in version order; up and down must
    both exist."""
    parts: dict[int, dict[str, str]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir(folder):
        match = _FILE.match(entry)
        if match is None:
            continue
        version = int(match.group(1))
        names[version] = match.group(2)
        parts.setdefault(version, {})[match.group(3)] = _read(os.path.join(folder, entry))
    return [
        _migration(folder, version, names[version], parts[version]) for version in sorted(parts)
    ]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def _migration(folder: str, version: int, name: str, files: dict[str, str]) -> Migration:
    where = os.path.basename(os.path.dirname(folder))  # the database's package
    if not {"up", "down"} <= set(files):
        raise MigrationError(f"migration {version:03d} of {where} lacks an up or down file")
    blocks = parse_blocks(files.get("adopt", ""))
    adoption.check_blocks(f"{where} {version:03d}_{name}.adopt.sql", files["up"], blocks)
    return Migration(version, name, files["up"], files["down"], blocks)


def load_schema(folder: str) -> str | None:
    """The latest schema of one database in one script, if it ships one."""
    path = os.path.join(folder, SCHEMA_FILE)
    return _read(path) if os.path.exists(path) else None


class MigrationRunner:
    """Plans and applies migrations for one backend under a migration lock."""

    def __init__(self, backend: Driver) -> None:
        self.backend = backend
        self.migrations = load_migrations(backend.migrations_dir)
        self.schema = load_schema(backend.migrations_dir)
        self.latest = self.migrations[-1].version if self.migrations else 0

    # -- reading ----------------------------------------------------------------------------

    def _exists(self, session: Session, table: str) -> bool:
        return self.backend.table_exists(session, table)

    def _has_column(self, session: Session, table: str, column: str) -> bool:
        return self.backend.column_exists(session, table, column)

    def _read(self, session: Session) -> _State:
        if self._exists(session, VERSION_TABLE):
            has_method = self._has_column(session, VERSION_TABLE, "method")
            applied = [
                AppliedMigration(int(r["version"]), r["name"], to_utc(r["applied_at"]), r["method"])
                for r in self.backend.applied_migrations(session, has_method)
            ]
            return _State(applied, add_method=not has_method)
        if self._exists(session, "queue_jobs"):
            legacy = self.migrations[LEGACY_VERSION - 1]
            return _State([AppliedMigration(legacy.version, legacy.name, None, LEGACY)], True)
        return _State([])

    def _probe(self, session: Session, migration: Migration) -> tuple[str, ...]:
        """The parts of ``migration``'s up script that are in the database already."""
        found = []
        for part, sql in adoption.probes(migration.adopt).items():
            rows = session.run(sql).rows
            if rows and next(iter(rows[0].values())):
                found.append(part)
        return tuple(found)

    def _look(self) -> tuple[_State, dict[int, tuple[str, ...]]]:
        """The state, and the parts of each pending migration found in place now. (A pending
        migration's probes see the database as it is now, before the steps ahead of it.)"""
        if not self.backend.database_exists():  # no SQLite file yet: version 0, none created
            return _State([]), {}
        with self.backend.migration_session() as session:
            state = self._read(session)
            # an empty database is installed whole: nothing of it to find
            pending = [m for m in self.migrations if m.version > state.current > 0]
            in_place = {m.version: found for m in pending if (found := self._probe(session, m))}
        return state, in_place

    def status(self) -> MigrationStatus:
        state, in_place = self._look()
        pending = [m for m in self.migrations if m.version > state.current]
        found = {version: list(parts) for version, parts in in_place.items()}
        return MigrationStatus(
            state.current, self.latest, state.applied, pending, state.legacy, found
        )

    def plan(self, current: int, target: int | None) -> list[Step]:
        to = self.latest if target is None else target
        if not 0 <= to <= self.latest:
            raise MigrationError(
                f"no migration version {to}: versions run from 0 (empty) to {self.latest}"
            )
        if to >= current:
            return [Step("up", m) for m in self.migrations if current < m.version <= to]
        return [Step("down", m) for m in reversed(self.migrations) if to < m.version <= current]

    def _installs(self, current: int, steps: list[Step]) -> bool:
        """Whether an empty database goes to the latest version: then schema.sql does it."""
        return (
            self.schema is not None
            and current == 0
            and bool(steps)
            and steps[-1].migration.version == self.latest
        )

    # -- the SQL for a DBA ---------------------------------------------------------------------

    def sql(self, target: int | None = None) -> str:
        """The SQL a DBA would run by hand to go from the current version to ``target``: what
        ``migrate(target)`` runs, bookkeeping included."""
        state, in_place = self._look()
        steps = self.plan(state.current, target)
        chunks = self._sql_prepare(state)
        if self._installs(state.current, steps):
            chunks.append(self._sql_install(steps))
        else:
            for step in steps:
                chunks.extend(self._sql_step(step, in_place.get(step.migration.version, ())))
        return "\n\n".join(chunks) + "\n"

    def _sql_step(self, step: Step, found: tuple[str, ...]) -> list[str]:
        if found and step.direction == "up":
            step = Step("up", step.migration, ADOPTED, found)
        header = f"-- {step.direction}: {step.migration.label}{_adopting(step)}"
        return [header, step.sql.strip(), self._sql_bookkeeping(step)]

    def _sql_prepare(self, state: _State) -> list[str]:
        if state.add_method:
            return [self.backend.add_method_column_sql() + ";"]
        if not state.legacy:
            return []
        legacy = Step("up", self.migrations[LEGACY_VERSION - 1], LEGACY)
        return [f"{self.backend.version_table_sql()};\n" + _literal_record(legacy)]

    def _sql_install(self, steps: list[Step]) -> str:
        assert self.schema is not None  # _installs checked it
        records = "\n".join(_literal_record(Step("up", s.migration, SCHEMA)) for s in steps)
        return (
            f"-- install: {SCHEMA_FILE}, the latest schema ({steps[-1].migration.label})\n"
            f"{self.backend.version_table_sql()};\n\n"
            f"{self.schema.strip()}\n\n{records}"
        )

    def _sql_bookkeeping(self, step: Step) -> str:
        version = step.migration.version
        if step.direction == "down":
            return f"DELETE FROM {VERSION_TABLE} WHERE version = {version};"
        prefix = ""
        if version == 1:
            prefix = self.backend.version_table_sql() + ";\n"
        return prefix + _literal_record(step)

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[Session]:
        with self.backend.migration_session() as session:
            self.backend.lock_migrations(session)
            try:
                yield session
            finally:
                self.backend.unlock_migrations(session)

    def migrate(self, target: int | None = None) -> list[Step]:
        """Bring the schema to ``target`` (default: latest); returns the steps applied."""
        self.plan(0, target)  # a bad target fails here, before anything is written
        with self._locked() as session:
            current = self._prepare(session)
            steps = self.plan(current, target)
            if self._installs(current, steps):
                installed = self._install(session, steps)
                if installed is not None:
                    return installed
            done = []
            for step in steps:
                applied = self._apply(session, step)
                if applied is not None:
                    done.append(applied)
        return done

    def _prepare(self, session: Session) -> int:
        """Create the version table (or give an old one its method column) and adopt a
        pre-update database as version 1, inside one write transaction (on SQLite that is the
        only lock there is); returns the version."""
        session.begin()
        try:
            state = self._read(session)
            session.run(self.backend.version_table_sql())
            if state.add_method:
                session.run(self.backend.add_method_column_sql())
            if state.legacy:
                log.info("found a pre-update queue database; recording it as version 1")
                self._record(session, Step("up", self.migrations[LEGACY_VERSION - 1], LEGACY))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return state.current

    def _install(self, session: Session, steps: list[Step]) -> list[Step] | None:
        """Run schema.sql on an empty database and record every version; None if another
        migrator recorded a version meanwhile (SQLite: read again inside BEGIN IMMEDIATE)."""
        assert self.schema is not None  # _installs checked it
        done = [Step("up", step.migration, SCHEMA) for step in steps]
        session.begin()
        try:
            if self.backend.applied_migrations(session, True):
                session.rollback()
                return None
            for statement in split_statements(self.schema):
                session.run(statement)
            for step in done:
                self._record(session, step)
            session.commit()
        except Exception as exc:
            session.rollback()
            what = f"{SCHEMA_FILE} (installing {steps[-1].migration.label})"
            raise self._failure(what, exc) from exc
        log.info("installed the latest schema (%s) from %s", steps[-1].migration.label, SCHEMA_FILE)
        return done

    def _apply(self, session: Session, step: Step) -> Step | None:
        """Apply one step, adopting what of it is in place already; None if another migrator
        applied it meanwhile (SQLite has no lock but BEGIN IMMEDIATE, so the version is read
        again inside the transaction)."""
        migration = step.migration
        label = f"{migration.label} ({step.direction})"
        session.begin()
        try:
            rows = self.backend.applied_migrations(session, True)
            if (step.direction == "up") == (migration.version in {int(r["version"]) for r in rows}):
                session.rollback()
                return None
            if step.direction == "up":
                found = self._probe(session, migration)
                step = Step("up", migration, ADOPTED if found else APPLIED, found)
                label += _adopting(step)
            for statement in split_statements(step.sql):
                session.run(statement)
            self._record(session, step)
            session.commit()
        except Exception as exc:
            session.rollback()
            raise self._failure(f"migration {label}", exc) from exc
        log.info("applied migration %s", label)
        return step

    def _record(self, session: Session, step: Step) -> None:
        migration = step.migration
        if step.direction == "down":
            self.backend.forget_migration(session, migration.version)
            return
        self.backend.record_migration(session, migration.version, migration.name, step.method)

    def _failure(self, what: str, exc: Exception) -> MigrationError:
        translated = exc if isinstance(exc, StratixQueueError) else None
        if translated is None:
            translated = self.backend.translate_error(exc)
        return MigrationError(
            f"{what} failed: {translated or exc}; fix the cause and run `stratix-queue migrate` "
            "again (`migrate --sql` prints what it would run)"
        )


def _adopting(step: Step) -> str:
    if not step.found:
        return ""
    return f" (adopted: {', '.join(step.found)} found in place)"


def _literal_record(step: Step) -> str:
    migration = step.migration
    return (
        f"INSERT INTO {VERSION_TABLE} (version, name, method) "
        f"VALUES ({migration.version}, '{migration.name}', '{step.method}');"
    )
