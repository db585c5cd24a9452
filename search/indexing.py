"""Records → search documents, full rebuilds, and the outbox drain that keeps the index current."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.db import serialized_write
from marketplace.errors import Unavailable
from marketplace.experts.models import Expert
from marketplace.experts.service import public_views
from marketplace.ids import stored_id
from marketplace.messages import (
    RESOURCE_AUDIENCE_LABELS,
    RESOURCE_KIND_LABELS,
    SERVICE_KIND_LABELS,
)
from marketplace.outbox.models import IndexOutbox
from marketplace.resources.models import Resource, ResourceStatus
from marketplace.resources.service import access_tokens, files_of
from marketplace.services.models import ProcuredService
from search.analysis import ChineseAnalyzer
from search.base import SearchBackend, SearchDocument
from search.encoder import Encoder

BATCH = 256


def expert_search_text(view) -> str:
    """The text an expert is found by: specialties, name, title, organisation and bio."""
    return " ".join(
        [" ".join(view.specialties), view.name, view.title, view.organization, view.bio]
    )


def expert_documents(
    session: Session, ids: Sequence[str], analyzer: ChineseAnalyzer
) -> list[SearchDocument]:
    """Search documents for the experts with these ids (missing ids are skipped)."""
    experts = session.exec(select(Expert).where(col(Expert.id).in_(list(ids)))).all()
    views = public_views(session=session, experts=list(experts))
    tokens = analyzer.tokens_many([expert_search_text(view) for view in views])
    documents = []
    for view, view_tokens in zip(views, tokens, strict=True):
        documents.append(
            SearchDocument(
                id=f"expert:{view.id}",
                kind="expert",
                record_id=view.id,
                title=f"{view.name} · {view.title} · {view.organization}",
                text=view.bio,
                tokens=view_tokens,
                specialties=list(view.specialties),
                filters={
                    "kind": ["expert"],
                    "domain": [view.domain.value],
                    "specialties": list(view.specialties),
                    "city": [view.region.city],
                    "district": [view.region.district],
                    "formats": [f.value for f in view.formats],
                    "service_types": [s.value for s in view.service_types],
                    "languages": list(view.languages),
                    "status": [view.status.value],
                },
                sort_key=view.id,
            )
        )
    return documents


def service_documents(
    session: Session, ids: Sequence[str], analyzer: ChineseAnalyzer
) -> list[SearchDocument]:
    """Search documents for procured services; a lapsed service is indexed as "expired"."""
    int_ids = [int(i) for i in ids if str(i).isdigit()]
    services = session.exec(
        select(ProcuredService).where(col(ProcuredService.id).in_(int_ids))
    ).all()
    today = utcnow().astimezone(LOCAL_TZ).date()
    documents = []
    for service in services:
        kind_label = SERVICE_KIND_LABELS.get(service.kind, service.kind)
        text = " ".join([service.name, kind_label, service.vendor, service.description])
        documents.append(
            SearchDocument(
                id=f"service:{service.id}",
                kind="service",
                record_id=str(service.id),
                title=f"{service.name} · {kind_label}"
                + (f" · {service.vendor}" if service.vendor else ""),
                text=service.description,
                tokens=analyzer.tokens(text),
                specialties=[],
                filters={
                    "kind": ["service"],
                    "status": ["active" if service.valid_to >= today else "expired"],
                },
                sort_key=f"{service.id:010d}",
            )
        )
    return documents


# Extracted file text feeds the index up to this many characters per resource.
RESOURCE_TEXT_CHARS = 20_000


def resource_documents(
    session: Session, ids: Sequence[str], analyzer: ChineseAnalyzer
) -> list[SearchDocument]:
    """Search documents for published library resources (other versions are not indexed)."""
    int_ids = [int(i) for i in ids if str(i).isdigit()]
    resources = session.exec(
        select(Resource).where(
            col(Resource.id).in_(int_ids), Resource.status == ResourceStatus.published.value
        )
    ).all()
    files = files_of(session, [stored_id(r) for r in resources])
    documents = []
    for resource in resources:
        kind_label = RESOURCE_KIND_LABELS.get(resource.kind, resource.kind)
        audiences = [RESOURCE_AUDIENCE_LABELS.get(a, a) for a in resource.audiences]
        file_text = " ".join(f.text for f in files.get(stored_id(resource), []))[
            :RESOURCE_TEXT_CHARS
        ]
        text = " ".join(
            [
                " ".join(resource.specialties),
                resource.title,
                kind_label,
                resource.scale_abbreviation,
                " ".join(audiences),
                resource.summary,
                resource.body,
                file_text,
            ]
        )
        documents.append(
            SearchDocument(
                id=f"resource:{resource.id}",
                kind="resource",
                record_id=str(resource.id),
                title=f"{resource.title} · {kind_label}",
                text=resource.summary or resource.body[:400],
                tokens=analyzer.tokens(text),
                specialties=list(resource.specialties),
                filters={
                    "kind": ["resource"],
                    "specialties": list(resource.specialties),
                    "resource_kind": [resource.kind],
                    "audiences": list(resource.audiences),
                    "access": access_tokens(resource),
                    "status": ["active"],
                },
                sort_key=f"{resource.id:010d}",
            )
        )
    return documents


DOCUMENT_BUILDERS: dict[
    str, Callable[[Session, Sequence[str], ChineseAnalyzer], list[SearchDocument]]
] = {
    "expert": expert_documents,
    "service": service_documents,
    "resource": resource_documents,
}


def with_vectors(documents: list[SearchDocument], encoder: Encoder | None) -> list[SearchDocument]:
    """Attach dense vectors of title + text when an encoder is configured."""
    if encoder is None or not documents:
        return documents
    vectors = encoder.encode([f"{d.title} {' '.join(d.specialties)} {d.text}" for d in documents])
    for document, vector in zip(documents, vectors, strict=True):
        document.vector = vector.tolist()
    return documents


def all_record_ids(session: Session) -> dict[str, list[str]]:
    return {
        "expert": list(session.exec(select(Expert.id).order_by(Expert.id)).all()),
        "service": [
            str(i)
            for i in session.exec(
                select(ProcuredService.id).order_by(col(ProcuredService.id))
            ).all()
        ],
        "resource": [
            str(i)
            for i in session.exec(
                select(Resource.id)
                .where(Resource.status == ResourceStatus.published.value)
                .order_by(col(Resource.id))
            ).all()
        ],
    }


def iter_all_documents(
    engine: Engine, analyzer: ChineseAnalyzer, encoder: Encoder | None
) -> tuple[int, Iterator[SearchDocument]]:
    """How many documents a full rebuild writes, and an iterator producing them in batches."""
    with Session(engine) as session:
        ids = all_record_ids(session)
    total = sum(len(v) for v in ids.values())

    chunks = [
        (kind, kind_ids[start : start + BATCH])
        for kind, kind_ids in ids.items()
        for start in range(0, len(kind_ids), BATCH)
    ]

    def build(kind: str, chunk: list[str]) -> list[SearchDocument]:
        with Session(engine) as session:
            return DOCUMENT_BUILDERS[kind](session, chunk, analyzer)

    def produce() -> Iterator[SearchDocument]:
        # The next batch is read and tokenised (one core, holding the GIL) while this one is
        # encoded (the encoder's threads release it) and written: a full build keeps both
        # cores busy instead of taking turns.
        with ThreadPoolExecutor(1, thread_name_prefix="heart-index-docs") as pool:
            ahead = pool.submit(build, *chunks[0]) if chunks else None
            for k in range(len(chunks)):
                assert ahead is not None
                batch = ahead.result()
                ahead = pool.submit(build, *chunks[k + 1]) if k + 1 < len(chunks) else None
                yield from with_vectors(batch, encoder)

    return total, produce()


def settle_through(engine: Engine, event_id: int) -> None:
    """Mark pending events up to `event_id` processed: a rebuild that started after them read
    the database with them in it. (Drained instead, a fresh import's 100k events appended
    every document a second time to the index the rebuild had just written.)"""
    with serialized_write(engine) as session:
        session.execute(
            update(IndexOutbox)
            .where(col(IndexOutbox.id) <= event_id, col(IndexOutbox.processed_at).is_(None))
            .values(processed_at=utcnow())
        )


@dataclass
class DrainReport:
    upserted: int = 0
    deleted: int = 0
    events: int = 0


def last_outbox_id(engine: Engine) -> int:
    """The newest outbox event id (0 when empty)."""
    with Session(engine) as session:
        newest = session.exec(
            select(IndexOutbox.id).order_by(col(IndexOutbox.id).desc()).limit(1)
        ).first()
    return newest or 0


def requeue_since(engine: Engine, event_id: int) -> int:
    """Mark events newer than `event_id` pending again; returns how many."""
    with Session(engine) as session:
        events = session.exec(
            select(IndexOutbox).where(
                col(IndexOutbox.id) > event_id, col(IndexOutbox.processed_at).is_not(None)
            )
        ).all()
        for event in events:
            event.processed_at = None
            session.add(event)
        session.commit()
    return len(events)


def drain_outbox(
    *,
    engine: Engine,
    backends: Sequence[SearchBackend],
    analyzer: ChineseAnalyzer,
    encoder: Encoder | None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> DrainReport:
    """Apply every pending outbox event to every backend; safe to repeat and to run concurrently.

    An event is marked processed only after all backends accepted it, so an engine that dies
    mid-way leaves the rest pending for the next drain (nothing is lost, replays are harmless).
    """
    report = DrainReport()
    while True:
        with Session(engine, expire_on_commit=False) as session:
            events = session.exec(
                select(IndexOutbox)
                .where(col(IndexOutbox.processed_at).is_(None))
                .order_by(col(IndexOutbox.id))
                .limit(batch_size)
            ).all()
            if not events:
                return report
            latest: dict[tuple[str, str], IndexOutbox] = {}
            for event in events:
                latest[(event.entity_type, event.entity_id)] = event
            upserts: dict[str, list[str]] = {}
            for (kind, entity_id), event in latest.items():
                if event.operation == "upsert" and kind in DOCUMENT_BUILDERS:
                    upserts.setdefault(kind, []).append(entity_id)
            documents: list[SearchDocument] = []
            for kind, ids in upserts.items():
                documents.extend(DOCUMENT_BUILDERS[kind](session, ids, analyzer))
            found = {d.id for d in documents}
            # An upsert whose record is gone (deleted since) and every delete remove the document.
            deletions = [
                f"{k}:{i}"
                for (k, i), e in latest.items()
                if k in DOCUMENT_BUILDERS and f"{k}:{i}" not in found
            ]
            documents = with_vectors(documents, encoder)
            try:
                for backend in backends:
                    backend.upsert(documents)
                    backend.delete(deletions)
            except Unavailable:
                _mark(
                    engine,
                    events,
                    attempts=col(IndexOutbox.attempts) + 1,
                    last_error="search backend unavailable",
                )
                raise
            _mark(engine, events, processed_at=utcnow())
            report.upserted += len(documents)
            report.deleted += len(deletions)
            report.events += len(events)
            if progress:
                progress(report.events)


def _mark(engine: Engine, events: Sequence[IndexOutbox], **values: object) -> None:
    """Update drained events in a write transaction of its own: on SQLite a read transaction
    that later writes fails ("database is locked") when another writer committed meanwhile, as
    the scheduler's jobs and the web requests do."""
    ids = [e.id for e in events]
    with serialized_write(engine) as session:
        session.execute(update(IndexOutbox).where(col(IndexOutbox.id).in_(ids)).values(**values))
