"""Alembic's migrations and the models agree: upgrading an empty database to "heads" gives the
schema the table registry (migrations/registry.py) declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from marketplace.db import run_migrations
from migrations.registry import metadata


def test_migrations_and_models_agree(fresh_database_url):
    engine = create_engine(fresh_database_url)
    try:
        run_migrations(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == [], "\n".join(map(str, differences))
