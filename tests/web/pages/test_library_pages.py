"""Library pages: an expert submits through the form, staff publish on the resource page, a
coordinator finds it with filters and downloads it, and the report counts the download."""

from __future__ import annotations

from sqlmodel import Session, select

from marketplace.resources.models import Resource, ResourceFile
from tests.marketplace.resource_support import make_pdf
from tests.web.pages.conftest import form_token, logged_in


def _submit(client, **fields):  # type: ignore[no-untyped-def]
    page = client.get("/library/new").text
    nonce = page.split('name="form_nonce" value="')[1].split('"')[0]
    data = {
        "csrf_token": form_token(page),
        "form_nonce": nonce,
        "kind": "course",
        "title": "情绪调节四课时课纲",
        "summary": "初中生情绪调节的四课时团体辅导课纲",
        "audiences": ["junior", "teachers"],
        "specialties": ["社会情感学习"],
        "access": "all",
    }
    data.update(fields)
    upload = fields.pop("upload", ("课纲.pdf", make_pdf(), "application/pdf"))
    data.pop("upload", None)
    return client.post("/library", data=data, files={"file": upload}, follow_redirects=False)


def _newest(session: Session) -> Resource:
    session.expire_all()
    return session.exec(select(Resource).order_by(Resource.id.desc())).first()  # type: ignore[union-attr]


def test_submit_publish_find_download_and_count(
    client, session, expert_user, staff_user, district_user
):
    logged_in(client, expert_user)
    response = _submit(client)
    assert response.status_code == 303, response.text
    resource = _newest(session)
    assert response.headers["location"] == f"/library/{resource.id}"
    assert resource.status == "submitted" and resource.author_expert_ids == ["P1"]
    assert "资料已提交" in client.get(response.headers["location"]).text

    logged_in(client, district_user)
    assert "情绪调节四课时课纲" not in client.get("/library").text
    assert client.get(f"/library/{resource.id}").status_code == 404

    logged_in(client, staff_user)
    listing = client.get("/library").text
    assert "待审核（1）" in listing and "情绪调节四课时课纲" in listing
    page = client.get(f"/library/{resource.id}").text
    published = client.post(
        f"/library/{resource.id}/review",
        data={"csrf_token": form_token(page), "action": "publish"},
        follow_redirects=False,
    )
    assert (
        published.status_code == 303 and "资料已发布" in client.get(f"/library/{resource.id}").text
    )

    logged_in(client, district_user)
    filtered = client.get("/library", params={"audience": "junior", "kind": "course"}).text
    assert "情绪调节四课时课纲" in filtered
    assert "情绪调节四课时课纲" not in client.get("/library", params={"kind": "scale"}).text
    detail = client.get(f"/library/{resource.id}").text
    [file_row] = session.exec(
        select(ResourceFile).where(ResourceFile.resource_id == resource.id)
    ).all()
    assert f"/api/resources/{resource.id}/files/{file_row.id}" in detail
    download = client.get(f"/api/resources/{resource.id}/files/{file_row.id}")
    assert download.status_code == 200 and download.content.startswith(b"%PDF-")

    logged_in(client, staff_user)
    report = client.get("/api/reports/allocation").json()
    library = {s["key"]: s for s in report["sections"]}["library_use"]
    assert library["data"]["downloads"] == 1 and library["data"]["views"] == 1
    [row] = library["tables"][0]["rows"]
    assert (row["district"], row["downloads"]) == ("碑林区", 1)
    assert "资料库使用情况" in client.get("/reports").text
    # The author sees the use of what they wrote.
    logged_in(client, expert_user)
    assert "区县浏览 1 次 · 下载 1 次" in client.get(f"/library/{resource.id}").text
    assert "浏览 1 次 · 下载 1 次" in client.get("/library").text
    logged_in(client, district_user)
    assert "下载 1 次" not in client.get("/library").text


def test_form_errors_are_shown_next_to_the_fields_and_nothing_is_stored(
    client, session, expert_user
):
    logged_in(client, expert_user)
    refused = _submit(
        client, title="x", upload=("setup.pdf", b"MZ" + b"\0" * 64, "application/pdf")
    )
    assert refused.status_code == 422 and 'id="err-title"' in refused.text
    exe = _submit(client, upload=("setup.pdf", b"MZ" + b"\0" * 64, "application/pdf"))
    assert exe.status_code == 422 and 'id="err-file"' in exe.text and "可执行程序" in exe.text
    assert session.exec(select(Resource)).all() == []


def test_a_case_with_student_data_offers_mask_or_confirm(client, session, expert_user):
    logged_in(client, expert_user)
    text = "初二（3）班的张小明近期情绪低落"
    first = _submit(client, kind="case", body=text, upload=("", b"", "application/octet-stream"))
    assert (
        first.status_code == 422 and "学生个人信息" in first.text and 'value="mask"' in first.text
    )
    masked = _submit(
        client, kind="case", body=text, privacy="mask", upload=("", b"", "application/octet-stream")
    )
    assert masked.status_code == 303
    assert "张小明" not in _newest(session).body


def test_districts_cannot_open_the_submission_form(client, district_user):
    logged_in(client, district_user)
    assert client.get("/library/new").status_code == 403
