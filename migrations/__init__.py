"""Alembic's migrations and the table registry (`migrations.registry`) they compare against."""
