from pathlib import Path

import pytest

from marketplace.settings import Settings


def test_production_refuses_a_missing_secret_key():
    with pytest.raises(ValueError, match="HEART_SECRET_KEY"):
        Settings(environment="production", secret_key="")


def test_production_refuses_a_placeholder_secret_key():
    with pytest.raises(ValueError, match="HEART_SECRET_KEY"):
        Settings(environment="production", secret_key="changeme")


def test_demo_and_test_environments_run_without_a_secret():
    assert Settings(environment="demo").secret_key == ""
    assert Settings(environment="test").secret_key == ""


def test_default_database_is_a_sqlite_file_under_the_data_dir(tmp_path: Path):
    settings = Settings(environment="test", data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'heart.db'}"


def test_settings_are_read_from_heart_environment_variables(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HEART_ENVIRONMENT", "test")
    monkeypatch.setenv("HEART_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HEART_SEARCH_BACKEND", "elasticsearch")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.search_backend == "elasticsearch"
