"""The search index's scheduled jobs: drain the outbox, and check the index against the database.

The nightly check runs what `heart index` does (SearchService.ensure_whole: build a missing need
model, retrain one that drifted past DRIFT_THRESHOLD, drain the outbox), then checks that every
directory record is in the index (missing ones are queued again through the outbox).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from marketplace import messages
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
        # What `heart index` does: a missing need model is built, one that has not read
        # DRIFT_THRESHOLD of the directory is retrained, the outbox is drained.
        result = service.ensure_whole()
        with Session(ctx.engine) as session:
            ids = all_record_ids(session)
        doc_ids = [f"{kind}:{i}" for kind, kind_ids in ids.items() for i in kind_ids]
        missing: list[str] = []
        for start in range(0, len(doc_ids), CHECK_BATCH):
            batch = doc_ids[start : start + CHECK_BATCH]
            found = service.backend.get(batch)
            missing += [d for d in batch if d not in found]
        if missing:  # queued again; the next outbox drain writes them
            with Session(ctx.engine) as session:
                for doc_id in missing:
                    kind, _, entity_id = doc_id.partition(":")
                    enqueue(session=session, entity_type=kind, entity_id=entity_id)
                session.commit()
        drift = result.get("drift")
        return messages.JOB_SUMMARY_DRIFT.format(
            action=messages.JOB_DRIFT_ACTIONS.get(result["action"], result["action"]),
            drift="—" if drift is None else f"{drift:.1%}",
            indexed=service.backend.count(),
            records=len(doc_ids),
            requeued=len(missing),
        )

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
