"""Whole-database backups: SQLite through its online backup API, PostgreSQL through
pg_dump -Fc / pg_restore. The search index is derived data and is rebuilt by the caller after
a restore (search sits above marketplace, so this module cannot do it itself).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine, make_url

from marketplace import messages
from marketplace.errors import InvalidInput, Unavailable

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
PG_TOOL_TIMEOUT_SECONDS = 60 * 60


@dataclass(frozen=True)
class BackupReport:
    path: Path
    backend: str
    tables: int
    rows: int
    bytes: int


def backend_of(engine: Engine) -> str:
    """'sqlite' or 'postgresql'."""
    return engine.dialect.name


def backup_database(*, engine: Engine, target: Path) -> BackupReport:
    """Write a consistent copy of the whole database to `target` (overwritten if present)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    if backend_of(engine) == "sqlite":
        _sqlite_copy(source=_sqlite_path(engine), destination=partial)
    else:
        _run_pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={partial}"], engine)
    os.replace(partial, target)
    counts = table_counts(engine)
    return BackupReport(
        path=target,
        backend=backend_of(engine),
        tables=len(counts),
        rows=sum(counts.values()),
        bytes=target.stat().st_size,
    )


def restore_database(*, engine: Engine, source: Path) -> BackupReport:
    """Replace the database's contents with the backup in `source` (stop the server first)."""
    source = Path(source)
    if not source.is_file():
        raise InvalidInput(messages.BACKUP_FILE_MISSING.format(path=source))
    kind = backup_kind(source)
    backend = backend_of(engine)
    if kind is None:
        raise InvalidInput(messages.BACKUP_NOT_HEART.format(reason=messages.BACKUP_REASON_FORMAT))
    if kind != backend:
        raise InvalidInput(messages.BACKUP_WRONG_KIND.format(kind=kind, backend=backend))
    verify_backup(source, kind)  # before anything is replaced
    engine.dispose()  # our pooled connections would hold locks the restore needs
    if backend == "sqlite":
        _sqlite_copy(source=source, destination=_sqlite_path(engine))
    else:
        _run_pg_tool(
            "pg_restore",
            [
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                str(source),
            ],
            engine,
            database_flag=True,
        )
    engine.dispose()
    counts = table_counts(engine)
    return BackupReport(
        path=source,
        backend=backend,
        tables=len(counts),
        rows=sum(counts.values()),
        bytes=source.stat().st_size,
    )


def backup_kind(path: Path) -> str | None:
    """'sqlite' or 'postgresql' from the file's magic bytes; None when it is neither."""
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    return None


# --- checking a backup before it replaces anything ----------------------------------------
# Tables every heart-hub database has had since the first revision: a file without them is
# some other application's database, however valid.
REQUIRED_TABLES = frozenset(
    {"alembic_version", "user_account", "expert", "district", "audit_entry", "specialty"}
)


def known_revisions() -> set[str]:
    """Every schema revision this version of heart-hub knows (its Alembic scripts)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from marketplace.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def verify_backup(path: Path, kind: str) -> None:
    """Refuse (InvalidInput, Chinese) a file that is not an intact heart-hub backup.

    SQLite: the integrity check passes, the required tables exist and every recorded schema
    revision is one of ours. PostgreSQL: pg_restore can read the archive's table of contents,
    which lists the required tables, and its alembic_version rows are revisions of ours.
    """
    if kind == "sqlite":
        tables, revisions = _sqlite_contents(path)
    else:
        tables, revisions = _pg_dump_contents(path)
    missing = sorted(REQUIRED_TABLES - tables)
    if missing:
        raise InvalidInput(
            messages.BACKUP_NOT_HEART.format(
                reason=messages.BACKUP_REASON_TABLES.format(tables="、".join(missing))
            )
        )
    if not revisions:
        raise InvalidInput(
            messages.BACKUP_NOT_HEART.format(reason=messages.BACKUP_REASON_NO_REVISION)
        )
    unknown = sorted(revisions - known_revisions())
    if unknown:
        raise InvalidInput(
            messages.BACKUP_NOT_HEART.format(
                reason=messages.BACKUP_REASON_REVISION.format(revision="、".join(unknown)[:200])
            )
        )


def _sqlite_contents(path: Path) -> tuple[set[str], set[str]]:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise InvalidInput(messages.BACKUP_CORRUPT.format(error=exc)) from None
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check(20)")]
        if problems != ["ok"]:
            raise InvalidInput(messages.BACKUP_CORRUPT.format(error="；".join(problems)[:300]))
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        revisions: set[str] = set()
        if "alembic_version" in tables:
            revisions = {
                str(row[0]) for row in connection.execute("SELECT version_num FROM alembic_version")
            }
        return tables, revisions
    except sqlite3.Error as exc:
        raise InvalidInput(messages.BACKUP_CORRUPT.format(error=exc)) from None
    finally:
        connection.close()


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?:DATA )?(\S+) (\S+) ")


def _pg_dump_contents(path: Path) -> tuple[set[str], set[str]]:
    try:
        listing = _pg_tool_output("pg_restore", ["--list", str(path)])
    except Unavailable as exc:
        raise InvalidInput(messages.BACKUP_CORRUPT.format(error=exc.message)) from None
    tables = set()
    for line in listing.splitlines():
        match = _TOC_TABLE.match(line)
        if match and match.group(1) == "public":
            tables.add(match.group(2))
    revisions: set[str] = set()
    if "alembic_version" in tables:
        script = _pg_tool_output(
            "pg_restore", ["--data-only", "--table=alembic_version", "--file=-", str(path)]
        )
        copying = False
        for line in script.splitlines():
            if line.startswith("COPY ") and "alembic_version" in line:
                copying = True
            elif copying and line == "\\.":
                copying = False
            elif copying and line.strip():
                revisions.add(line.strip())
    return tables, revisions


# --- comparing databases -------------------------------------------------------------------


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per table, for every table the database holds."""
    return {name: len(rows) for name, rows in snapshot(engine).items()}


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every table's rows in a canonical, backend-independent form (sorted JSON lines)."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    result: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for name, table in sorted(metadata.tables.items()):
            columns = sorted(table.columns.keys())
            rows = connection.execute(select(*(table.c[c] for c in columns))).all()
            result[name] = sorted(
                json.dumps(
                    {c: _canonical(v) for c, v in zip(columns, row, strict=True)},
                    ensure_ascii=False,
                    sort_keys=True,
                )
                for row in rows
            )
    return result


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value, sort_keys=True, default=str))
    return value


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise InvalidInput(messages.BACKUP_NEEDS_FILE)
    return Path(database)


def _sqlite_copy(*, source: Path, destination: Path) -> None:
    """Copy page by page with SQLite's online backup API (readers and writers may continue)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(destination, timeout=30)
    try:
        src.backup(dst, pages=1024)
        dst.commit()
    finally:
        dst.close()
        src.close()


# --- PostgreSQL -----------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The newest pg_dump/pg_restore: under /usr/lib/postgresql/*/bin, else on PATH."""

    def version(path: str) -> tuple[int, ...]:
        match = re.search(r"/postgresql/([\d.]+)/bin/", path)
        return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise Unavailable(messages.BACKUP_TOOL_MISSING.format(tool=name))


def _pg_environment(engine: Engine) -> dict[str, str]:
    """libpq's connection variables, so that the password never appears on a command line."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[key] = str(value)
    return env


def _pg_tool_output(name: str, args: list[str]) -> str:
    """Run a PostgreSQL client tool that needs no server; its standard output."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed tool, arguments we built
            [pg_tool(name), *args],
            capture_output=True,
            text=True,
            timeout=PG_TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(messages.BACKUP_TOOL_FAILED.format(tool=name, error=exc)) from None
    if completed.returncode != 0:
        error = (completed.stderr or completed.stdout).strip().splitlines()
        raise Unavailable(
            messages.BACKUP_TOOL_FAILED.format(tool=name, error=error[-1] if error else "?")
        )
    return completed.stdout


def _run_pg_tool(
    name: str, args: list[str], engine: Engine, *, database_flag: bool = False
) -> None:
    env = _pg_environment(engine)
    command = [pg_tool(name), *args]
    if database_flag:
        command.insert(1, f"--dbname={env['PGDATABASE']}")
    try:
        completed = subprocess.run(  # noqa: S603 - fixed tool, arguments we built
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=PG_TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(messages.BACKUP_TOOL_FAILED.format(tool=name, error=exc)) from None
    if completed.returncode != 0:
        error = (completed.stderr or completed.stdout).strip().splitlines()
        raise Unavailable(
            messages.BACKUP_TOOL_FAILED.format(tool=name, error=error[-1] if error else "?")
        )
