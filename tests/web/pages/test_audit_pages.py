"""The audit log in words: Chinese labels, links to records, filters, date range and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from booking.sessions.models import Booking
from marketplace.applications.models import ServiceApplication
from marketplace.audit.labels import action_label, actions_matching
from marketplace.audit.service import Actor, record
from marketplace.clock import utcnow
from marketplace.messages import AUDIT_ACTION_LABELS
from marketplace.resources.models import Resource
from matching.models import MatchRun
from tests.conftest import expert_record, make_service
from tests.matching.db_support import file_request
from tests.web.pages.conftest import import_records, logged_in


def _entries(session):
    record(
        session=session,
        actor=Actor("staff-1"),
        action="booking.confirm",
        entity_type="booking",
        entity_id="41",
    )
    old = record(
        session=session,
        actor=Actor("zhang"),
        action="expert.update",
        entity_type="expert",
        entity_id="E7",
        before={"bio": "旧简介"},
        after={"bio": "新简介"},
    )
    old.at = utcnow() - timedelta(days=40)
    session.flush()


def test_every_action_code_written_by_the_hub_has_a_chinese_name():
    for code in AUDIT_ACTION_LABELS:
        assert not action_label(code).isascii()
    assert action_label("widget.delete") == "其他操作"  # unknown record type: no bare code
    assert action_label("expert.frobnicate") == "专家：其他操作"


def test_typing_a_chinese_word_finds_the_actions_it_names():
    found = actions_matching("预约", [])
    assert "booking.confirm" in found and "booking.create" in found
    assert "session.login" not in found
    assert actions_matching("登录", []) == sorted(
        ["session.login", "session.logout", "session.revoke_all"]
    )


def test_staff_read_the_log_in_words_with_links(client, session, staff_user):
    _entries(session)
    logged_in(client, staff_user)
    page = client.get("/audit").text
    assert "确认预约" in page and "登录" in page
    assert '<a href="/bookings#booking-41">预约 41</a>' in page
    assert '<a href="/experts/E7">专家 E7</a>' in page  # no such expert: its id
    # the label alone; the code is at most a tooltip, never text on the page
    assert '<div title="booking.confirm">确认预约</div>' in page
    assert ">booking.confirm<" not in page and "<code>" not in page
    assert '<datalist id="action-labels">' in page and '<option value="确认预约">' in page
    home = client.get("/").text.split('id="panel-recent_audit"')[1].split("</section>")[0]
    assert "确认预约" in home and "<code>" not in home


def _results(page: str) -> str:
    """The entries section (the filter form offers every action's label)."""
    return page.split('id="results"')[1]


def test_the_log_filters_by_chinese_action_actor_record_and_dates(client, session, staff_user):
    _entries(session)
    logged_in(client, staff_user)
    by_action = _results(client.get("/audit", params={"action": "预约"}).text)
    assert "确认预约" in by_action and "修改专家资料" not in by_action
    by_label = _results(client.get("/audit", params={"action": "修改专家资料"}).text)
    assert "修改专家资料" in by_label and "确认预约" not in by_label  # a label the list offers
    by_actor = _results(client.get("/audit", params={"actor": "zha"}).text)
    assert "修改专家资料" in by_actor and "确认预约" not in by_actor
    by_record = client.get("/audit", params={"entity_type": "expert", "entity_id": "E7"}).text
    by_record = _results(by_record)
    assert "修改专家资料" in by_record and "确认预约" not in by_record
    recent = (utcnow() - timedelta(days=7)).date().isoformat()
    by_date = _results(client.get("/audit", params={"date_from": recent}).text)
    assert "确认预约" in by_date and "修改专家资料" not in by_date
    bad = client.get("/audit", params={"date_from": "2026-13-01"})
    assert bad.status_code == 422 and 'id="err-date_from"' in bad.text


def test_the_log_exports_the_filtered_entries_as_csv(client, session, staff_user, district_user):
    _entries(session)
    logged_in(client, staff_user)
    page = client.get("/audit", params={"action": "专家"}).text
    assert 'href="/audit.csv?action=%E4%B8%93%E5%AE%B6"' in page
    response = client.get("/audit.csv", params={"action": "专家"})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["时间", "操作人", "操作"]
    assert [r[2] for r in rows[1:]] == ["修改专家资料"] and "新简介" in rows[1][7]
    logged_in(client, district_user)
    assert client.get("/audit.csv").status_code == 403


def test_the_log_names_the_system_in_chinese_where_no_person_acted(client, session, staff_user):
    record(
        session=session,
        actor=Actor("booking.escalation"),  # the escalation job's system principal
        action="booking.escalate",
        entity_type="booking",
        entity_id="1",
    )
    session.flush()
    logged_in(client, staff_user)
    page = client.get("/audit").text
    assert "系统（危机预约升级）" in page and ">booking.escalation<" not in page


def test_the_log_names_experts_and_requests_instead_of_their_ids(client, session, staff_user):
    import_records(session, expert_record(id="E9", name="陈默", specialties=["心理危机干预"]))
    staff_user.display_name = "资源中心 王老师"
    filed = file_request(session, text="初二学生网络成瘾，希望专家到校指导班主任与家长")
    run = MatchRun(created_at=datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    session.add(run)
    session.flush()
    named = (
        ("expert", "E9"),
        ("district_request", str(filed.id)),
        ("user", str(staff_user.id)),
        ("match_run", str(run.id)),
    )
    for entity_type, entity_id in named:
        record(
            session=session,
            actor=Actor("staff-1"),
            action=f"{entity_type}.update",
            entity_type=entity_type,
            entity_id=entity_id,
        )
    session.commit()
    logged_in(client, staff_user)
    page = client.get("/audit").text
    assert '<a href="/experts/E9">专家 <span class="user-text">陈默</span></a>' in page
    # the acting account by its display name, its username beside it
    assert "资源中心 王老师（staff-1）" in page
    assert '账号 <span class="user-text">资源中心 王老师</span>' in page
    assert re.search(
        rf'<a href="/requests/{filed.id}">区县需求 <span class="user-text">'
        r"「初二学生网络成瘾，希望专家到校指导班主…」 · 碑林区 · \d+月\d+日</span></a>",
        page,
    )
    home = client.get("/").text.split('id="panel-recent_audit"')[1].split("</section>")[0]
    assert "专家 陈默" in home


def test_the_log_names_bookings_services_applications_and_library_resources(
    client, session, staff_user, district_user
):
    import_records(session, expert_record(id="E9", name="陈默"))
    service = make_service(session, name="专家督导小时包")
    booking = Booking(
        uid="audit-name-1",
        expert_id="E9",
        district_id=district_user.district_id,
        kind="supervision",
        format="online",
        title="初三年级考前减压讲座",
        start_at=utcnow() + timedelta(days=3),
        end_at=utcnow() + timedelta(days=3, hours=1),
    )
    application = ServiceApplication(
        service_id=service.id,
        district_id=district_user.district_id,
        quantity_hundredths=400,
        purpose="督导本区专职心理教师",
    )
    resource = Resource(kind="case", title="考试焦虑短程辅导案例")
    session.add_all([booking, application, resource])
    session.flush()
    for entity_type, entity_id in (
        ("booking", booking.id),
        ("service", service.id),
        ("application", application.id),
        ("resource", resource.id),
    ):
        record(
            session=session,
            actor=Actor("staff-1"),
            action=f"{entity_type}.update",
            entity_type=entity_type,
            entity_id=str(entity_id),
        )
    session.commit()
    logged_in(client, staff_user)
    page = _results(client.get("/audit").text)
    assert (
        f'<a href="/bookings#booking-{booking.id}">预约 '
        '<span class="user-text">初三年级考前减压讲座</span></a>'
    ) in page
    assert '采购服务 <span class="user-text">专家督导小时包</span>' in page
    assert '服务申请 <span class="user-text">专家督导小时包 · 碑林区</span>' in page
    assert (
        f'<a href="/library/{resource.id}">资源 <span class="user-text">考试焦虑短程辅导案例</span>'
    ) in page


def test_the_log_lists_25_entries_a_page_in_compact_rows_and_folds_its_filters_on_a_phone(
    client, session, staff_user
):
    for n in range(30):
        record(
            session=session,
            actor=Actor("staff-1"),
            action="booking.confirm",
            entity_type="booking",
            entity_id=str(1000 + n),
        )
    session.commit()
    logged_in(client, staff_user)
    first = client.get("/audit").text
    rows = _results(first).split("<tbody>")[1].split("</tbody>")[0].count("<tr>")
    assert rows == 25 and "第 1 / 2 页" in first
    # each row's cells are named for the phone's compact layout (web/static/app.css)
    for cell in ("audit-at", "audit-who", "audit-action", "audit-object", "audit-more"):
        assert f'class="{cell}' in first
    # unfiltered, the filters fold on a phone (phone.js closes data-phone-closed); a filter set
    # keeps them open and says how many are chosen
    assert '<details class="more-filters" open data-phone-closed>' in first
    filtered = client.get("/audit", params={"action": "确认预约", "actor": "staff"}).text
    assert '<details class="more-filters" open>' in filtered and "（已选 2 项）" in filtered
    total = int(re.search(r"共 <strong>(\d+)</strong> 条记录", first).group(1))
    assert 30 <= total <= 50  # the 30 and the logins of this test
    second = _results(client.get("/audit", params={"page": 2}).text)
    assert second.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == total - 25
