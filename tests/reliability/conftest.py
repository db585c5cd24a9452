"""The environment of a `heart` CLI run against a fresh database of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
        "HEART_EMBED_MODEL": "none",
        "HEART_SEARCH_DRAIN_SECONDS": "0",
    }
