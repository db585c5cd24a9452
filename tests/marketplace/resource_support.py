"""Factories for the resource-library tests: users, tiny real PDF/DOCX files, resource bodies."""

from __future__ import annotations

import io
import uuid

from marketplace.accounts.models import User
from marketplace.accounts.principal import system_principal
from marketplace.districts.service import find_district
from marketplace.experts.models import ExpertRecord
from marketplace.experts.service import upsert_record
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, expert_record


def quick_user(session, role: Role, *, district: str | None = None, expert_id: str | None = None):  # type: ignore[no-untyped-def]
    user = User(
        username=f"{role.value}-{uuid.uuid4().hex[:8]}",
        display_name=f"{role.value} 测试",
        password_hash="!unusable",
        role=role.value,
        district_id=find_district(session=session, name=district).id if district else None,
        expert_id=expert_id,
    )
    session.add(user)
    session.flush()
    return user


def make_expert(session, expert_id: str, name: str = "测试专家") -> str:  # type: ignore[no-untyped-def]
    rec = ExpertRecord.model_validate(expert_record(id=expert_id, name=name))
    upsert_record(session=session, rec=rec, user=system_principal("test"))
    session.flush()
    return expert_id


class LibraryActors:
    """An expert author, another expert, staff, and coordinators in two cities."""

    def __init__(self, session, settings) -> None:  # type: ignore[no-untyped-def]
        self.session, self.settings = session, settings
        make_expert(session, "R00001", "林老师")
        make_expert(session, "R00002", "周老师")
        self.expert_user = quick_user(session, Role.expert, expert_id="R00001")
        self.expert = auth_headers(self.expert_user, settings)
        self.other_expert = auth_headers(
            quick_user(session, Role.expert, expert_id="R00002"), settings
        )
        self.staff = auth_headers(quick_user(session, Role.staff), settings)
        self.beilin_user = quick_user(session, Role.district, district="西安市/碑林区")
        self.beilin = auth_headers(self.beilin_user, settings)
        self.yanta = auth_headers(
            quick_user(session, Role.district, district="西安市/雁塔区"), settings
        )
        self.baota = auth_headers(
            quick_user(session, Role.district, district="延安市/宝塔区"), settings
        )
        # Into the test's outer transaction: a refused request rolls back only its own work.
        session.commit()


def resource_body(**overrides: object) -> dict:
    body = {
        "kind": "course",
        "title": "考前焦虑团体辅导课纲",
        "summary": "初三学生考前焦虑的四次团体辅导课纲，含放松训练与认知调整练习。",
        "audiences": ["junior", "teachers"],
        "specialties": ["学业压力与考试焦虑"],
        "center": "陕西省中小学心理健康资源中心",
        "licence": "仅限本省中小学教学使用",
    }
    body.update(overrides)
    return body


def _pdf_text(text: str) -> bytes:
    return b"BT /F1 14 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"


def make_pdf(text: str | None = "Lesson outline: exam stress and breathing practice") -> bytes:
    """A one-page PDF with `text` in its text layer (None: an image-only, "scanned" page)."""
    stream = _pdf_text(text) if text is not None else b"0 0 m 100 100 l S"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def make_docx(*paragraphs: str) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx(*titles: str) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for title in titles:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()
