"""Transactions that must not interleave with other writers.

`serialized_session` is marketplace.db.serialized_write: a committing session whose SQLite
transaction starts with BEGIN IMMEDIATE (on PostgreSQL an ordinary session). Booking code names
it here so that every check-and-insert in this package goes through one import.
"""

from __future__ import annotations

from marketplace.db import serialized_write as serialized_session

__all__ = ["serialized_session"]
