"""A committed database with the 600 dev experts and a built search index, for search tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from marketplace.accounts.principal import system_principal
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.experts.importing import import_experts
from marketplace.resources.demo import seed_demo_resources
from marketplace.resources.files import store_for
from marketplace.services.demo import seed_demo_services
from marketplace.settings import Settings
from search.service import SearchService
from tests.conftest import DEMO_EXPERTS, make_settings, seed_reference

DEMO_RESOURCES = DEMO_EXPERTS.parent / "resources.jsonl"


def build_corpus(
    data_dir: Path, database_url: str, *, with_resources: bool = False, **overrides: object
) -> tuple[Settings, Engine, SearchService]:
    """The dev experts and demo services (and, `with_resources`, the demo library) indexed."""
    settings = make_settings(data_dir, database_url, **overrides)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        report = import_experts(
            session=session,
            lines=DEMO_EXPERTS.read_text(encoding="utf-8").splitlines(),
            user=system_principal("test"),
        )
        assert report.created == 600
        seed_demo_services(session=session)
        if with_resources:
            seed_demo_resources(
                session=session, source=DEMO_RESOURCES, store=store_for(settings.data_dir)
            )
    service = SearchService(settings=settings, engine=engine)
    service.rebuild()
    service.drain()  # the import's outbox events are already in the rebuilt index
    return settings, engine, service
