"""The migration that makes "a center's region" access follow the publishing center: rows that
were open to one city's districts become published by that city's center (the same districts),
rows without a center get the province center, and published ones are queued for the index;
on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import create_engine

from marketplace.db import run_migrations


def _insert(connection, title: str, access: str, city_id: int | None) -> int:  # type: ignore[no-untyped-def]
    return connection.execute(
        sa.text(
            "INSERT INTO resource (version, kind, status, title, summary, body, audiences, "
            "specialties, author_expert_ids, author_names, center, licence, access, "
            "region_city_id, video_url, scale_abbreviation, scale_age_range, scale_norm_source, "
            "scale_scoring_notes, privacy_confirmed, decision_reason, created_at, updated_at) "
            "VALUES (1, 'course', 'published', :title, '', '', '[]', '[]', '[]', '[]', '', '', "
            ":access, :city, '', '', '', '', '', false, '', '2026-12-01', '2026-12-01') "
            "RETURNING id"
        ),
        {"title": title, "access": access, "city": city_id},
    ).scalar_one()


def test_region_rows_follow_their_city_center_and_are_reindexed(fresh_database_url):
    engine = create_engine(fresh_database_url)
    try:
        run_migrations(engine, "i18_2_resource_center")
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO province (id, name) VALUES (1, '陕西省')"))
            connection.execute(
                sa.text(
                    "INSERT INTO city (id, name, province_id) VALUES (1, '西安市', 1), "
                    "(2, '延安市', 1)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO resource_center (id, name, province_id, city_id) VALUES "
                    "(10, '陕西省', 1, NULL), (11, '西安市', 1, 1), (12, '延安市', 1, 2)"
                )
            )
            yanan = _insert(connection, "延安市区县资料", "region", 2)
            shared = _insert(connection, "全省共享资料", "all", None)
        run_migrations(engine)
        with engine.connect() as connection:
            centers = dict(connection.execute(sa.text("SELECT id, center_id FROM resource")).all())
            queued = {
                row[0]
                for row in connection.execute(
                    sa.text("SELECT entity_id FROM index_outbox WHERE entity_type = 'resource'")
                ).all()
            }
            columns = {c["name"] for c in sa.inspect(connection).get_columns("resource")}
    finally:
        engine.dispose()
    assert centers == {yanan: 12, shared: 10}
    assert queued == {str(yanan)}
    assert "region_city_id" not in columns and "change_reason" in columns
