"""Library pages after review: the author edits a returned draft (fields and files) and submits
it again with errors in place and the privacy screen again for cases; revisions carry a change
reason into the version history; a scale names the procured service that licenses it."""

from __future__ import annotations

from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.resources.models import Resource, ResourceFile
from marketplace.services.models import ServiceCreate
from marketplace.services.service import create_service
from tests.marketplace.resource_support import make_docx, make_pdf
from tests.web.allocation_support import service_body
from tests.web.pages.conftest import form_token, logged_in
from tests.web.pages.test_library_pages import _newest, _submit


def _review(client, resource_id: int, action: str, reason: str = ""):  # type: ignore[no-untyped-def]
    page = client.get(f"/library/{resource_id}").text
    return client.post(
        f"/library/{resource_id}/review",
        data={"csrf_token": form_token(page), "action": action, "reason": reason},
        follow_redirects=False,
    )


def _edit(client, resource_id: int, upload=None, **fields):  # type: ignore[no-untyped-def]
    page = client.get(f"/library/{resource_id}/edit")
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": form_token(page.text),
        "title": "情绪调节四课时课纲",
        "summary": "初中生情绪调节的四课时团体辅导课纲",
        "audiences": ["junior", "teachers"],
        "specialties": ["社会情感学习"],
        "access": "all",
    }
    data.update(fields)
    files = {"file": upload} if upload else {"file": ("", b"", "application/octet-stream")}
    return client.post(
        f"/library/{resource_id}/edit", data=data, files=files, follow_redirects=False
    )


def _files(session: Session, resource_id: int) -> list[str]:
    session.expire_all()
    rows = session.exec(select(ResourceFile).where(ResourceFile.resource_id == resource_id))
    return [f.filename for f in rows.all()]


def test_a_returned_draft_is_edited_with_its_files_and_resubmitted(
    client, session, expert_user, staff_user
):
    logged_in(client, expert_user)
    assert _submit(client).status_code == 303
    resource = _newest(session)
    logged_in(client, staff_user)
    returned = _review(client, resource.id, "request_changes", "请补充第四课时的活动说明")
    assert returned.status_code == 303

    logged_in(client, expert_user)
    detail = client.get(f"/library/{resource.id}").text
    assert f'href="/library/{resource.id}/edit"' in detail and "请补充第四课时" in detail
    form = client.get(f"/library/{resource.id}/edit").text
    assert "情绪调节四课时课纲" in form and "课纲.pdf" in form and "请补充第四课时" in form
    [old_file] = session.exec(
        select(ResourceFile).where(ResourceFile.resource_id == resource.id)
    ).all()

    # An error comes back next to its field, with what was typed, and changes nothing.
    refused = _edit(client, resource.id, title="x", summary="改过的简介")
    assert refused.status_code == 422 and 'id="err-title"' in refused.text
    assert "改过的简介" in refused.text and "课纲.pdf" in refused.text
    session.expire_all()
    assert session.get(Resource, resource.id).status == "changes_requested"  # type: ignore[union-attr]

    done = _edit(
        client,
        resource.id,
        upload=(
            "第四课时.docx",
            make_docx("第四课时：情绪日记与小组分享"),
            "application/octet-stream",
        ),
        title="情绪调节四课时课纲（修订）",
        remove_files=[str(old_file.id)],
    )
    assert done.status_code == 303 and done.headers["location"] == f"/library/{resource.id}"
    session.expire_all()
    edited = session.get(Resource, resource.id)
    assert edited.status == "submitted" and edited.title == "情绪调节四课时课纲（修订）"  # type: ignore[union-attr]
    assert _files(session, resource.id) == ["第四课时.docx"]
    assert "修改已保存并重新提交审核" in client.get(done.headers["location"]).text
    # Submitted again, it is no longer editable.
    assert client.get(f"/library/{resource.id}/edit").status_code == 409


def test_saving_without_submitting_keeps_the_draft_returned(
    client, session, expert_user, staff_user
):
    logged_in(client, expert_user)
    _submit(client)
    resource = _newest(session)
    logged_in(client, staff_user)
    _review(client, resource.id, "request_changes", "标题请更具体")
    logged_in(client, expert_user)
    saved = _edit(client, resource.id, title="初二情绪调节四课时课纲", intent="save")
    assert saved.status_code == 303
    session.expire_all()
    row = session.get(Resource, resource.id)
    assert (row.status, row.title) == ("changes_requested", "初二情绪调节四课时课纲")  # type: ignore[union-attr]


def test_an_edited_case_passes_the_privacy_screen_again(client, session, expert_user, staff_user):
    logged_in(client, expert_user)
    created = _submit(
        client,
        kind="case",
        body="一名初二学生近期情绪低落，班主任转介。",
        upload=("", b"", "application/octet-stream"),
    )
    assert created.status_code == 303
    resource = _newest(session)
    logged_in(client, staff_user)
    _review(client, resource.id, "request_changes", "请补充干预过程")
    logged_in(client, expert_user)
    text = "初二（3）班的张小明近期情绪低落，经三次个别辅导后好转。"
    found = _edit(client, resource.id, body=text)
    assert found.status_code == 422 and 'value="mask"' in found.text and "张小明" in found.text
    masked = _edit(client, resource.id, body=text, privacy="mask")
    assert masked.status_code == 303
    session.expire_all()
    row = session.get(Resource, resource.id)
    assert row.status == "submitted" and "张小明" not in row.body  # type: ignore[union-attr]


def test_the_version_history_names_publishers_and_change_reasons(
    client, session, expert_user, staff_user, district_user
):
    logged_in(client, expert_user)
    _submit(client)
    first = _newest(session)
    logged_in(client, staff_user)
    assert _review(client, first.id, "publish").status_code == 303

    logged_in(client, expert_user)
    page = client.get(f"/library/{first.id}").text
    no_reason = client.post(
        f"/library/{first.id}/versions",
        data={"csrf_token": form_token(page), "change_reason": ""},
        follow_redirects=False,
    )
    assert no_reason.status_code == 422 and 'id="err-change_reason"' in no_reason.text
    revised = client.post(
        f"/library/{first.id}/versions",
        data={"csrf_token": form_token(page), "change_reason": "补充了家长会环节"},
        follow_redirects=False,
    )
    second = _newest(session)
    assert (
        revised.status_code == 303 and revised.headers["location"] == f"/library/{second.id}/edit"
    )
    assert "补充了家长会环节" in client.get(revised.headers["location"]).text
    assert _edit(client, second.id, change_reason="补充了家长会环节").status_code == 303
    logged_in(client, staff_user)
    assert _review(client, second.id, "publish").status_code == 303

    history = client.get(f"/library/{second.id}").text
    assert "版本历史" in history and "第 1 版" in history and "第 2 版" in history
    assert "已被新版本取代" in history and "补充了家长会环节" in history
    # Each version was published by staff-1; the first was superseded by staff-1 publishing v2.
    assert history.count("由 staff-1 发布") == 3 and "由 staff-1 发布新版本取代" in history
    assert f'href="/library/{first.id}"' in history  # staff read older versions
    assert client.get(f"/library/{first.id}").status_code == 200

    logged_in(client, district_user)
    seen = client.get(f"/library/{second.id}").text
    assert "第 1 版" in seen and "补充了家长会环节" in seen
    assert f'href="/library/{first.id}"' not in seen
    assert client.get(f"/library/{first.id}").status_code == 404


def test_a_scale_names_its_licensing_service_from_a_picker(
    client, session, expert_user, staff_user, district_user
):
    licence = create_service(
        session=session,
        data=ServiceCreate.model_validate(
            service_body(name="SDQ 量表授权", kind="assessment_licence", unit="人次")
        ),
        user=system_principal("test"),
    )
    create_service(
        session=session,
        data=ServiceCreate.model_validate(service_body(name="个案督导小时包")),
        user=system_principal("test"),
    )
    session.commit()
    logged_in(client, staff_user)
    form = client.get("/library/new").text
    assert f'value="{licence.id}"' in form and "SDQ 量表授权" in form
    assert "个案督导小时包" not in form  # only assessment-scale licences are offered
    created = _submit(
        client,
        kind="scale",
        title="长处和困难问卷（SDQ）",
        scale_abbreviation="SDQ",
        scale_items="25",
        licensed_by_service_id=str(licence.id),
        upload=("SDQ.pdf", make_pdf(), "application/pdf"),
    )
    assert created.status_code == 303, created.text
    resource = _newest(session)
    assert resource.licensed_by_service_id == licence.id
    assert _review(client, resource.id, "publish").status_code == 303

    logged_in(client, district_user)
    page = client.get(f"/library/{resource.id}").text
    assert f'href="/services#service-{licence.id}">SDQ 量表授权</a>' in page
    logged_in(client, expert_user)
    page = client.get(f"/library/{resource.id}").text
    assert "SDQ 量表授权" in page and "/services#service-" not in page


def test_a_city_centers_staff_review_their_centers_submissions_on_the_pages(
    client, session, expert_user, staff_user
):
    from marketplace.accounts.models import UserCreate
    from marketplace.accounts.service import create_user
    from marketplace.centers.service import center_named
    from marketplace.vocabulary import Role
    from tests.conftest import TEST_PASSWORD

    xian = center_named(session=session, name="西安市")
    city_staff = create_user(
        session=session,
        data=UserCreate(
            username="xian-staff", password=TEST_PASSWORD, role=Role.city_staff, center="西安市"
        ),
        user=system_principal("test"),
    )
    session.commit()
    logged_in(client, expert_user)
    form = client.get("/library/new").text
    assert f'value="{xian.id}"' in form  # an expert may submit for a city's center
    assert _submit(client, title="西安市区县课纲", center_id=str(xian.id)).status_code == 303
    for_xian = _newest(session)
    assert _submit(client, title="全省课纲").status_code == 303
    for_province = _newest(session)

    logged_in(client, city_staff)
    listing = client.get("/library").text
    assert "待审核（1）" in listing and "西安市区县课纲" in listing
    # Only their own center is offered when they submit.
    form = client.get("/library/new").text
    assert f'value="{xian.id}"' in form and "省级资源中心</option>" not in form
    province_page = client.get(f"/library/{for_province.id}")
    assert province_page.status_code == 404  # a draft of another center: not theirs to see
    assert "通过并发布" in client.get(f"/library/{for_xian.id}").text
    assert _review(client, for_xian.id, "publish").status_code == 303
    session.expire_all()
    assert session.get(Resource, for_xian.id).published_by == city_staff.id  # type: ignore[union-attr]


def test_staff_revise_a_submission_waiting_for_review_and_then_publish_it(
    client, session, expert_user, staff_user
):
    logged_in(client, expert_user)
    assert _submit(client).status_code == 303
    submitted = _newest(session)
    [old_file] = session.exec(
        select(ResourceFile).where(ResourceFile.resource_id == submitted.id)
    ).all()
    logged_in(client, staff_user)
    detail = client.get(f"/library/{submitted.id}").text
    assert f'href="/library/{submitted.id}/edit"' in detail and "修改后再发布" in detail
    # A revision says what changed, next to the field.
    refused = _edit(client, submitted.id, title="情绪调节四课时课纲（审核修订）")
    assert refused.status_code == 422 and 'id="err-change_reason"' in refused.text
    revised = _edit(
        client,
        submitted.id,
        upload=("第四课时.docx", make_docx("第四课时：情绪日记"), "application/octet-stream"),
        title="情绪调节四课时课纲（审核修订）",
        change_reason="统一课时标题",
        remove_files=[str(old_file.id)],
    )
    assert revised.status_code == 303
    session.expire_all()
    revision = _newest(session)
    assert revised.headers["location"] == f"/library/{revision.id}" != f"/library/{submitted.id}"
    assert (revision.status, revision.version, revision.change_reason) == (
        "submitted",
        2,
        "统一课时标题",
    )
    assert revision.title == "情绪调节四课时课纲（审核修订）"
    assert _files(session, revision.id) == ["第四课时.docx"]
    # The history keeps the version as submitted, unchanged, with its file.
    kept = session.get(Resource, submitted.id)
    assert kept.status == "superseded" and kept.title == "情绪调节四课时课纲"  # type: ignore[union-attr]
    assert _files(session, submitted.id) == ["课纲.pdf"]
    page = client.get(revised.headers["location"]).text
    history = page.split('id="history-title"')[1]
    assert "第 1 版" in history and "第 2 版" in history and "统一课时标题" in history
    assert _review(client, revision.id, "publish").status_code == 303
    session.expire_all()
    assert session.get(Resource, revision.id).status == "published"  # type: ignore[union-attr]
