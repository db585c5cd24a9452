"""Transactions that must not interleave with other writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session


@contextmanager
def serialized_session(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and, on SQLite, holds the write lock from its first
    statement (BEGIN IMMEDIATE), so a check-and-insert inside it cannot interleave with another."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.info["sqlite_begin"] = "BEGIN IMMEDIATE"
        try:
            with Session(bind=connection, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except Exception:
                    session.rollback()
                    raise
        finally:
            connection.info.pop("sqlite_begin", None)
