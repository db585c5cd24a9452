"""Alembic environment: uses the connection handed in by marketplace.db.run_migrations,
or HEART_DATABASE_URL / the default SQLite file when run from the `alembic` command."""

import sys
from pathlib import Path

from alembic import context

from marketplace.db import make_engine
from marketplace.settings import Settings

try:
    from migrations.registry import metadata
except ModuleNotFoundError:  # an editable install made before `migrations` became a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from migrations.registry import metadata

target_metadata = metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(Settings(environment="development", secret_key="x" * 32))
    with engine.begin() as connection:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
