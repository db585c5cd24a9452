"""`heart restore` of a file that is not an intact heart-hub backup changes nothing.

An unrelated database, a corrupt backup and a backup from an unknown schema revision are each
refused before anything is replaced: non-zero exit, a Chinese message, no traceback, and the
database exactly as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from marketplace.backup import pg_tool, snapshot
from marketplace.db import make_engine
from tests.conftest import _pg_admin_url, create_pg_database, drop_pg_database
from tests.reliability.test_backup import heart, populate, runner, settings_of
from web.cli import app


def refused(cli: dict[str, str], path: Path, *words: str) -> None:
    engine = make_engine(settings_of(cli))
    before = snapshot(engine)
    engine.dispose()
    result = runner.invoke(app, ["restore", "--yes", str(path)], env=cli)
    output = result.output.replace("\n", "")  # rich wraps long lines
    assert result.exit_code != 0, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    for word in words:
        assert word in output, output
    assert "数据库未做任何改动" in output
    assert snapshot(engine) == before
    engine.dispose()


def backend(cli: dict[str, str]) -> str:
    return "sqlite" if cli["HEART_DATABASE_URL"].startswith("sqlite") else "postgresql"


def make_backup(cli: dict[str, str], tmp_path: Path) -> Path:
    populate(cli, tmp_path)
    path = tmp_path / "good.backup"
    heart(cli, "backup", str(path))
    return path


def unrelated_database(cli: dict[str, str], tmp_path: Path) -> Path:
    """Another application's database, in the format this backend restores."""
    path = tmp_path / "unrelated.backup"
    if backend(cli) == "sqlite":
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE invoice (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO invoice VALUES (1, 9.5)")
        connection.commit()
        connection.close()
        return path
    admin = _pg_admin_url()
    url = create_pg_database(admin)
    try:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE invoice (id integer PRIMARY KEY, total real)"))
        engine.dispose()
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        subprocess.run(  # noqa: S603 - the test server's own pg_dump
            [pg_tool("pg_dump"), "--format=custom", f"--file={path}"],
            env={
                **os.environ,
                "PGHOST": parsed.host or "",
                "PGPORT": str(parsed.port or 5432),
                "PGUSER": parsed.username or "",
                "PGPASSWORD": parsed.password or "",
                "PGDATABASE": parsed.database or "",
            },
            check=True,
            capture_output=True,
        )
    finally:
        drop_pg_database(admin, url)
    return path


def test_an_unrelated_database_is_refused_and_nothing_changes(env, tmp_path):
    make_backup(env, tmp_path)
    refused(env, unrelated_database(env, tmp_path), "不是 heart-hub 的备份文件", "缺少数据表")


def test_a_corrupt_backup_is_refused_without_a_traceback(env, tmp_path):
    good = make_backup(env, tmp_path)
    data = bytearray(good.read_bytes())
    if backend(env) == "sqlite":
        # Keep the header and schema page; scramble every page after it.
        for offset in range(4096, len(data) - 16, 7):
            data[offset] = (data[offset] * 31 + 17) % 256
    else:
        data = data[: len(data) // 2]  # a dump cut short (disk full, interrupted copy)
    corrupt = tmp_path / "corrupt.backup"
    corrupt.write_bytes(bytes(data))
    refused(env, corrupt, "备份文件")


def test_random_bytes_are_refused(env, tmp_path):
    make_backup(env, tmp_path)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(os.urandom(8192))
    refused(env, junk, "不是 heart-hub 的备份文件")


# SQLite only: a pg_dump archive cannot be edited in place to carry another revision.
@pytest.mark.parametrize("fresh_database_url", ["sqlite"], indirect=True)
def test_a_backup_from_an_unknown_schema_revision_is_refused(env, tmp_path):
    good = make_backup(env, tmp_path)
    future = tmp_path / "future.backup"
    future.write_bytes(good.read_bytes())
    connection = sqlite3.connect(future)
    connection.execute("DELETE FROM alembic_version")
    connection.execute("INSERT INTO alembic_version VALUES ('20991231_future')")
    connection.commit()
    connection.close()
    refused(env, future, "20991231_future")
