"""The search index's scheduled jobs: drain the outbox, and check the index against the database.

The nightly check: every directory record must be in the index (missing ones are queued again
through the outbox), and the index is kept whole (SearchService.ensure_whole): a missing need
model is built, one that has not read DRIFT_THRESHOLD of the directory is retrained.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from marketplace import messages
from marketplace.errors import Unavailable
from marketplace.jobs.service import JobContext, JobSpec
from marketplace.outbox.service import enqueue
from search.indexing import all_record_ids
from search.service import SearchService

CHECK_BATCH = 500


def drain_job(search: Callable[[], SearchService]) -> Callable[[JobContext], str]:
    def run(ctx: JobContext) -> str:
        report = search().drain()
        return messages.JOB_SUMMARY_OUTBOX.format(done=report.events)

    return run


def index_drift_job(search: Callable[[], SearchService]) -> Callable[[JobContext], str]:
    def run(ctx: JobContext) -> str:
        service = search()
        with Session(ctx.engine) as session:
            ids = all_record_ids(session)
        doc_ids = [f"{kind}:{i}" for kind, kind_ids in ids.items() for i in kind_ids]
        missing: list[str] = []
        for start in range(0, len(doc_ids), CHECK_BATCH):
            batch = doc_ids[start : start + CHECK_BATCH]
            found = service.backend.get(batch)
            missing += [d for d in batch if d not in found]
        if missing:
            with Session(ctx.engine) as session:
                for doc_id in missing:
                    kind, _, entity_id = doc_id.partition(":")
                    enqueue(session=session, entity_type=kind, entity_id=entity_id)
                session.commit()
        # the index kept whole: a missing need model is built, a drifted one retrained
        whole = service.ensure_whole()
        summary = messages.JOB_SUMMARY_DRIFT.format(
            indexed=service.backend.count(), records=len(doc_ids), requeued=len(missing)
        ) + messages.JOB_DRIFT_MODEL[whole["action"]].format(drift=whole.get("drift") or 0.0)
        if ids["expert"] and not (service.model_dir / "need_model.npz").is_file():
            raise Unavailable(f"{messages.JOB_DRIFT_NO_MODEL}（{summary}）")
        return summary

    return run


def search_jobs(search: Callable[[], SearchService]) -> list[JobSpec]:
    """The search jobs, each asking `search` for the process's search service when it runs."""
    return [
        JobSpec(
            name="search_outbox",
            label=messages.JOB_LABELS["search_outbox"],
            interval=timedelta(minutes=1),
            run=drain_job(search),
            budget=timedelta(minutes=5),
        ),
        JobSpec(
            name="index_drift",
            label=messages.JOB_LABELS["index_drift"],
            interval=timedelta(days=1),
            offset=timedelta(hours=3),
            run=index_drift_job(search),
            budget=timedelta(minutes=30),
        ),
    ]
