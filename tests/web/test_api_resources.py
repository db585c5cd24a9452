"""The resource library over HTTP, on SQLite and PostgreSQL: submission, review, access rules,
versions, retirement, files (types from content, limits, student data) and use counts."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlmodel import func, select

from marketplace.centers.service import center_named, province_center
from marketplace.outbox.models import IndexOutbox
from marketplace.resources.files import store_for
from marketplace.resources.models import ResourceFile
from tests.marketplace.resource_support import (
    LibraryActors,
    make_docx,
    make_pdf,
    make_pptx,
    resource_body,
)

# A valid resident ID number (checksum) and a mobile number, written into hostile uploads.
STUDENT_ID = "11010519491231002X"


def _many_parts_docx() -> bytes:
    """A Word file's two required parts and 10,001 empty ones: its directory alone (at 200,000
    entries) kept the web process busy for seconds before it is refused unread."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("word/document.xml", b"<w:document/>")
        for number in range(10_001):
            archive.writestr(f"x/{number}", b"")
    return buffer.getvalue()


@pytest.fixture
def actors(session, settings):
    return LibraryActors(session, settings)


def create(client, headers, **overrides) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/api/resources", json=resource_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client, headers, resource_id, data, name="课纲.pdf"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/resources/{resource_id}/files",
        files={"file": (name, data, "application/octet-stream")},
        headers=headers,
    )


def published(client, actors, **overrides) -> dict:  # type: ignore[no-untyped-def]
    created = create(client, actors.expert, **overrides)
    assert upload(client, actors.expert, created["id"], make_pdf()).status_code == 201
    assert (
        client.post(f"/api/resources/{created['id']}/submit", headers=actors.expert).status_code
        == 200
    )
    response = client.post(f"/api/resources/{created['id']}/publish", headers=actors.staff)
    assert response.status_code == 200, response.text
    return response.json()


def stored_files(session, settings) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    rows = session.exec(select(func.count()).select_from(ResourceFile)).one()
    return rows, store_for(settings.data_dir).digests()


def test_an_expert_submits_staff_publish_and_a_district_reads_and_downloads(
    client, actors, settings, session
):
    created = create(client, actors.expert)
    assert created["status"] == "draft" and created["author_expert_ids"] == ["R00001"]
    # Published by the submitter's resource center; an expert has none: the province's.
    assert created["center_id"] == province_center(session=session).id
    assert created["author_names"] == ["林老师"]
    added = upload(client, actors.expert, created["id"], make_pdf())
    assert added.status_code == 201 and added.json()["media_type"] == "application/pdf"
    assert added.json()["text_status"] == "ok"
    submitted = client.post(f"/api/resources/{created['id']}/submit", headers=actors.expert)
    assert submitted.json()["status"] == "submitted"
    done = client.post(f"/api/resources/{created['id']}/publish", headers=actors.staff)
    assert done.json()["status"] == "published" and done.json()["status_label"] == "已发布"

    library = client.get("/api/resources", headers=actors.beilin).json()
    assert [r["id"] for r in library] == [created["id"]]
    file_id = library[0]["files"][0]["id"]
    download = client.get(f"/api/resources/{created['id']}/files/{file_id}", headers=actors.beilin)
    assert download.status_code == 200 and download.content.startswith(b"%PDF-")
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    detail = client.get(f"/api/resources/{created['id']}", headers=actors.beilin).json()
    assert (detail["views"], detail["downloads"]) == (1, 1)
    # The author sees the use of what they wrote.
    mine = client.get("/api/resources", params={"mine": True}, headers=actors.expert).json()
    assert (mine[0]["views"], mine[0]["downloads"]) == (1, 1)


def test_drafts_and_submissions_are_invisible_to_districts_and_other_experts(client, actors):
    created = create(client, actors.expert)
    upload(client, actors.expert, created["id"], make_pdf())
    for step in (None, "submit"):
        if step:
            client.post(f"/api/resources/{created['id']}/{step}", headers=actors.expert)
        for headers in (actors.beilin, actors.other_expert):
            assert client.get(f"/api/resources/{created['id']}", headers=headers).status_code == 404
            assert client.get("/api/resources", headers=headers).json() == []
            file_url = f"/api/resources/{created['id']}/files/1"
            assert client.get(file_url, headers=headers).status_code == 404
    queue = client.get("/api/resources", params={"status": "submitted"}, headers=actors.staff)
    assert [r["id"] for r in queue.json()] == [created["id"]]


def test_districts_cannot_submit_and_nobody_anonymous_reads(client, actors):
    response = client.post("/api/resources", json=resource_body(), headers=actors.beilin)
    assert response.status_code == 403 and "专家" in response.json()["detail"]
    assert client.get("/api/resources").status_code == 401


def test_only_staff_review_and_another_expert_cannot_touch_a_draft(client, actors):
    created = create(client, actors.expert)
    upload(client, actors.expert, created["id"], make_pdf())
    rid = created["id"]
    assert client.patch(
        f"/api/resources/{rid}", json={"title": "改个名字"}, headers=actors.other_expert
    ).status_code in (403, 404)
    client.post(f"/api/resources/{rid}/submit", headers=actors.expert)
    for action in ("publish", "reject", "request-changes", "retire"):
        response = client.post(
            f"/api/resources/{rid}/{action}", json={"reason": "理由"}, headers=actors.expert
        )
        assert response.status_code == 403


def test_request_changes_then_resubmit_and_reject_keep_the_reason(client, actors):
    created = create(client, actors.expert)
    rid = created["id"]
    upload(client, actors.expert, rid, make_pdf())
    client.post(f"/api/resources/{rid}/submit", headers=actors.expert)
    back = client.post(
        f"/api/resources/{rid}/request-changes",
        json={"reason": "请补充第四课时"},
        headers=actors.staff,
    ).json()
    assert back["status"] == "changes_requested" and back["decision_reason"] == "请补充第四课时"
    edited = client.patch(
        f"/api/resources/{rid}", json={"summary": "四次课，已补充第四课时"}, headers=actors.expert
    )
    assert edited.status_code == 200
    client.post(f"/api/resources/{rid}/submit", headers=actors.expert)
    rejected = client.post(
        f"/api/resources/{rid}/reject", json={"reason": "与已有课程重复"}, headers=actors.staff
    ).json()
    assert rejected["status"] == "rejected" and rejected["decision_reason"] == "与已有课程重复"
    assert client.get(f"/api/resources/{rid}", headers=actors.beilin).status_code == 404
    missing_reason = client.post(f"/api/resources/{rid}/retire", json={}, headers=actors.staff)
    assert missing_reason.status_code == 422


def test_published_versions_are_immutable_and_a_new_version_supersedes(client, actors):
    first = published(client, actors)
    rid = first["id"]
    frozen = client.patch(f"/api/resources/{rid}", json={"title": "新标题"}, headers=actors.expert)
    assert frozen.status_code == 409 and "新版本" in frozen.json()["detail"]
    draft = client.post(f"/api/resources/{rid}/versions", headers=actors.expert).json()
    assert draft["version"] == 2 and draft["lineage_id"] == rid and draft["status"] == "draft"
    assert len(draft["files"]) == 1  # the files carry over to the new version
    client.patch(
        f"/api/resources/{draft['id']}",
        json={"title": "考前焦虑团体辅导课纲（第二版）"},
        headers=actors.expert,
    )
    # The district still reads version 1 while version 2 is under review.
    client.post(f"/api/resources/{draft['id']}/submit", headers=actors.expert)
    assert [r["version"] for r in client.get("/api/resources", headers=actors.beilin).json()] == [1]
    client.post(f"/api/resources/{draft['id']}/publish", headers=actors.staff)
    library = client.get("/api/resources", headers=actors.beilin).json()
    assert [(r["id"], r["version"]) for r in library] == [(draft["id"], 2)]
    old = client.get(f"/api/resources/{rid}", headers=actors.staff).json()
    assert old["status"] == "superseded" and old["title"] == "考前焦虑团体辅导课纲"
    history = client.get(f"/api/resources/{draft['id']}/versions", headers=actors.staff).json()
    assert [(v["version"], v["status"]) for v in history] == [(2, "published"), (1, "superseded")]


def test_retired_resources_are_hidden_from_districts_with_the_reason_kept(client, actors):
    item = published(client, actors)
    retired = client.post(
        f"/api/resources/{item['id']}/retire", json={"reason": "政策已更新"}, headers=actors.staff
    ).json()
    assert retired["status"] == "retired" and retired["decision_reason"] == "政策已更新"
    assert client.get("/api/resources", headers=actors.beilin).json() == []
    assert client.get(f"/api/resources/{item['id']}", headers=actors.beilin).status_code == 404
    file_id = item["files"][0]["id"]
    assert (
        client.get(
            f"/api/resources/{item['id']}/files/{file_id}", headers=actors.beilin
        ).status_code
        == 404
    )


def test_access_all_region_and_staff_only(client, actors, session):
    # "A center's region" follows the publishing center: 西安市's center reaches its districts,
    # the province center every district.
    xian = center_named(session=session, name="西安市")
    region = published(client, actors, title="西安市区县资料", access="region", center_id=xian.id)
    province_wide = published(client, actors, title="省中心区县资料", access="region")
    staff_only = published(client, actors, title="内部工作资料", access="staff")
    everyone = published(client, actors, title="全省共享资料")

    def titles(headers) -> set[str]:  # type: ignore[no-untyped-def]
        return {r["title"] for r in client.get("/api/resources", headers=headers).json()}

    assert (
        titles(actors.beilin)
        == titles(actors.yanta)
        == {"西安市区县资料", "省中心区县资料", "全省共享资料"}
    )
    assert titles(actors.baota) == {"省中心区县资料", "全省共享资料"}
    assert client.get(f"/api/resources/{region['id']}", headers=actors.baota).status_code == 404
    assert (
        client.get(f"/api/resources/{staff_only['id']}", headers=actors.beilin).status_code == 404
    )
    assert titles(actors.staff) == {
        "西安市区县资料",
        "省中心区县资料",
        "内部工作资料",
        "全省共享资料",
    }
    assert (
        everyone["access"] == "all"
        and province_wide["center_id"] == province_center(session=session).id
    )


def test_filters_by_kind_audience_and_specialty(client, actors):
    published(
        client, actors, title="亲子沟通家长课", audiences=["parents"], specialties=["家庭教育指导"]
    )
    published(client, actors)

    def by(**params: str) -> set[str]:
        listed = client.get("/api/resources", params=params, headers=actors.beilin).json()
        return {r["title"] for r in listed}

    assert by(audience="parents") == {"亲子沟通家长课"}
    assert by(specialty="学业压力与考试焦虑") == {"考前焦虑团体辅导课纲"}
    assert by(kind="scale") == set()


def test_assessment_scale_fields_and_unknown_specialties(client, actors):
    scale = create(
        client,
        actors.staff,
        kind="scale",
        title="长处和困难问卷（SDQ）使用卡",
        scale_abbreviation="SDQ",
        scale_items=25,
        scale_age_range="4-17 岁",
        scale_minutes=10,
        scale_norm_source="公开发表的中国常模研究",
        scale_scoring_notes="五个分量表各 5 题，0-2 计分",
    )
    assert (scale["scale_abbreviation"], scale["scale_items"], scale["scale_minutes"]) == (
        "SDQ",
        25,
        10,
    )
    bad = client.post(
        "/api/resources", json=resource_body(specialties=["读心术"]), headers=actors.expert
    )
    assert bad.status_code == 422 and "读心术" in bad.json()["detail"]


def test_a_case_with_student_data_is_refused_then_masked_or_confirmed(client, actors):
    text = "初二（3）班的张小明近期情绪低落，家长电话 13912345678。"
    refused = client.post(
        "/api/resources", json=resource_body(kind="case", body=text), headers=actors.expert
    )
    assert refused.status_code == 422 and "学生个人信息" in refused.json()["detail"]
    masked = create(client, actors.expert, kind="case", body=text, privacy="mask")
    assert "张小明" not in masked["body"] and "13912345678" not in masked["body"]
    # Student data added while editing is caught again at submission.
    client.patch(
        f"/api/resources/{masked['id']}",
        json={"body": text, "privacy": "confirm"},
        headers=actors.expert,
    )
    submitted = client.post(f"/api/resources/{masked['id']}/submit", headers=actors.expert)
    assert submitted.status_code == 422
    ok = client.post(
        f"/api/resources/{masked['id']}/submit", json={"privacy": "confirm"}, headers=actors.expert
    )
    assert ok.status_code == 200
    # ...and at review: the reviewer must confirm it explicitly.
    review = client.post(f"/api/resources/{masked['id']}/publish", headers=actors.staff)
    assert review.status_code == 422 and "退回修改" in review.json()["detail"]
    confirmed = client.post(
        f"/api/resources/{masked['id']}/publish", json={"privacy": "confirm"}, headers=actors.staff
    )
    assert confirmed.json()["status"] == "published"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("课纲.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200, "可执行程序"),
        ("讲义.docx", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "可执行程序"),
        ("notes.pdf", b"just some text pretending to be a pdf", "只接受"),
        ("学生名单.pdf", make_pdf(f"student id {STUDENT_ID}"), "学生个人信息"),
        ("联系表.docx", make_docx("三年级二班李明同学", "家长手机 13812345678"), "学生个人信息"),
        ("讲义.docx", _many_parts_docx(), "超过 10000 个组成部分"),
    ],
)
def test_refused_uploads_store_nothing(client, actors, session, settings, name, data, message):
    created = create(client, actors.expert)
    response = upload(client, actors.expert, created["id"], data, name)
    assert response.status_code == 422 and message in response.json()["detail"]
    assert stored_files(session, settings) == (0, [])


def test_an_oversized_upload_is_refused_and_stores_nothing(client, app, actors, session, settings):
    app.state.settings = settings.model_copy(update={"resource_max_mb": 0.001})
    created = create(client, actors.expert)
    response = upload(client, actors.expert, created["id"], make_pdf() + b"%" * 2000)
    assert response.status_code == 422 and "文件过大" in response.json()["detail"]
    assert stored_files(session, settings) == (0, [])


def test_docx_and_pptx_text_is_extracted_and_a_scanned_pdf_is_flagged(client, actors, session):
    created = create(client, actors.expert)
    rid = created["id"]
    docx = upload(
        client, actors.expert, rid, make_docx("第一课：认识考试焦虑", "呼吸放松练习"), "讲义.docx"
    )
    pptx = upload(client, actors.expert, rid, make_pptx("情绪温度计", "认知调整"), "课件.pptx")
    scanned = upload(client, actors.expert, rid, make_pdf(None), "扫描件.pdf")
    assert docx.json()["media_type"].endswith("wordprocessingml.document")
    assert pptx.json()["media_type"].endswith("presentationml.presentation")
    assert scanned.json()["scanned"] is True and scanned.json()["text_status"] == "scanned"
    texts = {f.filename: f.text for f in session.exec(select(ResourceFile)).all()}
    assert "呼吸放松练习" in texts["讲义.docx"] and "情绪温度计" in texts["课件.pptx"]


def test_a_slow_extraction_is_cut_off_and_the_file_kept_without_text(client, app, actors, settings):
    app.state.settings = settings.model_copy(update={"resource_extract_seconds": 0.001})
    created = create(client, actors.expert)
    response = upload(client, actors.expert, created["id"], make_pdf())
    assert response.status_code == 201 and response.json()["text_status"] == "timeout"


def test_publishing_and_retiring_queue_the_search_index(client, actors, session):
    item = published(client, actors)
    client.post(
        f"/api/resources/{item['id']}/retire", json={"reason": "过时"}, headers=actors.staff
    )
    queued = session.exec(
        select(IndexOutbox).where(
            IndexOutbox.entity_type == "resource", IndexOutbox.entity_id == str(item["id"])
        )
    ).all()
    assert len(queued) == 2


def test_city_center_staff_publish_under_their_own_center(client, actors, session, settings):
    from marketplace.centers.service import center_named, label
    from marketplace.vocabulary import Role
    from tests.conftest import auth_headers
    from tests.marketplace.resource_support import quick_user

    xian = center_named(session=session, name="西安市")
    staff = quick_user(session, Role.staff)
    staff.center_id = xian.id
    session.add(staff)
    session.commit()
    body = resource_body(center="")
    created = client.post("/api/resources", json=body, headers=auth_headers(staff, settings)).json()
    assert created["center_id"] == xian.id and created["center"] == label(xian)


def test_city_center_staff_review_what_is_published_by_or_for_their_center(
    client, actors, session, settings
):
    from marketplace.vocabulary import Role
    from tests.conftest import auth_headers
    from tests.marketplace.resource_support import quick_user

    xian, yanan = (center_named(session=session, name=n) for n in ("西安市", "延安市"))
    reviewers = {}
    for name, center in (("xian", xian), ("yanan", yanan)):
        user = quick_user(session, Role.city_staff)
        user.center_id = center.id
        session.add(user)
        reviewers[name] = auth_headers(user, settings)
    session.commit()

    def submitted(**overrides) -> int:  # type: ignore[no-untyped-def]
        created = create(client, actors.expert, **overrides)
        assert upload(client, actors.expert, created["id"], make_pdf()).status_code == 201
        assert (
            client.post(f"/api/resources/{created['id']}/submit", headers=actors.expert)
        ).status_code == 200
        return created["id"]

    for_xian = submitted(title="西安市区县课纲", center_id=xian.id, access="region")
    for_province = submitted(title="全省课纲")
    # Each city's staff see only their own center's queue.
    queue = client.get("/api/resources", params={"status": "submitted"}, headers=reviewers["xian"])
    assert [r["title"] for r in queue.json()] == ["西安市区县课纲"]
    assert (
        client.get(
            "/api/resources", params={"status": "submitted"}, headers=reviewers["yanan"]
        ).json()
        == []
    )
    # Another city's staff and the province's material are not theirs to review.
    refused = client.post(f"/api/resources/{for_xian}/publish", headers=reviewers["yanan"])
    assert refused.status_code in (403, 404)
    refused = client.post(f"/api/resources/{for_province}/publish", headers=reviewers["xian"])
    assert refused.status_code == 403 and "省级资源中心" in refused.json()["detail"]
    published_ = client.post(f"/api/resources/{for_xian}/publish", headers=reviewers["xian"])
    assert published_.status_code == 200 and published_.json()["status"] == "published"
    retired = client.post(
        f"/api/resources/{for_xian}/retire", json={"reason": "已过时"}, headers=reviewers["xian"]
    )
    assert retired.status_code == 200
    # Province staff review every center's material.
    assert (
        client.post(f"/api/resources/{for_province}/publish", headers=actors.staff).status_code
        == 200
    )
    # A city's staff publish under their own center only.
    staff_body = resource_body(center="", center_id=yanan.id)
    wrong = client.post("/api/resources", json=staff_body, headers=reviewers["xian"])
    assert wrong.status_code == 422 and "本中心" in wrong.text
