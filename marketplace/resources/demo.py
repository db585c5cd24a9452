"""The demo library (for `heart demo`): original lesson outlines, scale cards and anonymised
case summaries written for this project (demo/resources.jsonl); each lesson outline also gets a
Word handout made from its text, so the demo has files to open and download."""

from __future__ import annotations

import io
from pathlib import Path

from sqlmodel import Session, col, select

from marketplace.accounts.principal import system_principal
from marketplace.ids import stored_id
from marketplace.resources.files import DOCX, FileStore, extract_text
from marketplace.resources.importing import import_resources
from marketplace.resources.models import Resource, ResourceFile, ResourceKind
from marketplace.resources.service import files_of

DEMO = system_principal("demo")


def outline_docx(title: str, body: str) -> bytes:
    """A Word handout with the outline's title and one paragraph per line."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for line in body.splitlines():
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def seed_demo_resources(*, session: Session, source: Path, store: FileStore) -> int:
    """Import the demo library; returns how many resources it holds afterwards."""
    report = import_resources(session=session, source=source, store=store, user=DEMO)
    if report.errors:
        raise ValueError(f"demo library line errors: {report.errors}")
    courses = session.exec(select(Resource).where(Resource.kind == ResourceKind.course.value)).all()
    with_files = files_of(session, [stored_id(r) for r in courses])
    for resource in courses:
        if with_files.get(stored_id(resource)) or not resource.body:
            continue
        data = outline_docx(resource.title, resource.body)
        extracted = extract_text(data, DOCX)
        session.add(
            ResourceFile(
                resource_id=stored_id(resource),
                sha256=store.put(data),
                filename=f"{resource.title[:60]}.docx",
                media_type=DOCX,
                size=len(data),
                text=extracted.text,
                text_status=extracted.status,
            )
        )
    session.flush()
    return len(session.exec(select(col(Resource.id))).all())
