"""The migration that makes "a center's region" access follow the publishing center: rows that
were open to one city's districts become published by that city's center (the same districts),
rows without a center get the province center, and published ones are queued for the index;
on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import create_engine

from marketplace.db import make_engine, run_migrations
from tests.conftest import make_settings


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


def test_an_existing_sqlite_database_with_files_and_uses_upgrades_with_foreign_keys_on(tmp_path):
    """The app's engine turns SQLite's foreign keys on; the batch migration copies `resource`
    and drops the old copy, which its files and uses reference. That used to fail with
    "FOREIGN KEY constraint failed" on any installation that had library files."""
    engine = make_engine(make_settings(tmp_path, f"sqlite:///{tmp_path / 'old.db'}"))
    try:
        run_migrations(engine, "i18_2_resource_center")
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            connection.execute(sa.text("INSERT INTO province (id, name) VALUES (1, '陕西省')"))
            connection.execute(
                sa.text("INSERT INTO city (id, name, province_id) VALUES (1, '西安市', 1)")
            )
            connection.execute(
                sa.text(
                    "INSERT INTO resource_center (id, name, province_id, city_id) VALUES "
                    "(10, '陕西省', 1, NULL), (11, '西安市', 1, 1)"
                )
            )
            resource = _insert(connection, "西安市区县资料", "region", 1)
            connection.execute(
                sa.text(
                    "INSERT INTO resource_file (resource_id, sha256, filename, media_type, size, "
                    "text, text_status, created_at) VALUES (:r, :sha, 'a.pdf', "
                    "'application/pdf', 3, '', 'ok', '2026-12-01')"
                ),
                {"r": resource, "sha": "0" * 64},
            )
        run_migrations(engine)
        with engine.connect() as connection:
            files = connection.execute(sa.text("SELECT resource_id FROM resource_file")).all()
            center = connection.execute(
                sa.text("SELECT center_id FROM resource WHERE id = :r"), {"r": resource}
            ).scalar_one()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    finally:
        engine.dispose()
    assert files == [(resource,)] and center == 11
    assert foreign_keys == 1  # switched back on for the connections the app then uses
