"""Pages (staff): run batch matching, review, adjust, confirm or discard, compare runs."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session

from marketplace.requests.models import DistrictRequest
from matching.models import MatchRun
from tests.matching.db_support import fake_relevance, file_request, seed_pool
from tests.web.pages.conftest import form_token, logged_in
from tests.web.pages.forms import form_fields


@pytest.fixture
def pool(app, session: Session):
    app.state.match_relevance = fake_relevance
    seed_pool(session)
    return file_request(session)


def _run(client) -> tuple[object, int]:
    page = client.get("/matching").text
    data = dict(form_fields(page, action="/matching/runs"))
    response = client.post("/matching/runs", data=data)
    run_id = int(re.search(r"/matching/runs/(\d+)$", str(response.url)).group(1))
    return response, run_id


def test_staff_run_batch_matching_and_review_pairs_with_scores_and_reasons(
    client, session, staff_user, pool
):
    logged_in(client, staff_user)
    page = client.get("/matching").text
    assert "当前待匹配的需求：<strong>1</strong>" in page
    response, run_id = _run(client)
    assert response.status_code == 200 and "批量匹配已完成" in response.text
    # the request is named by what the school asked for, its district and day, not "#12"
    assert f'<h3 class="user-text">{pool.text[:19]}' in response.text
    assert "需求 #" not in response.text and f">#{pool.id}<" not in response.text
    assert "匹配度" in response.text and "擅长：心理危机干预" in response.text
    listing = client.get("/matching").text
    assert f'href="/matching/runs/{run_id}"' in listing and "待审核" in listing


def test_staff_confirm_a_proposal_and_its_requests_become_matched(
    client, session, staff_user, pool
):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    confirmed = client.post(
        f"/matching/runs/{run_id}/confirm", data={"csrf_token": form_token(page.text)}
    )
    assert confirmed.status_code == 200 and "方案已确认" in confirmed.text
    session.expire_all()
    assert session.get(MatchRun, run_id).status == "confirmed"
    assert session.get(DistrictRequest, pool.id).status == "matched"
    assert "确认方案" not in confirmed.text  # nothing left to adjust


def test_staff_remove_a_pair_and_add_another_expert_through_htmx(client, session, staff_user, pool):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    assigned = re.search(
        r'name="action" value="remove"><input type="hidden" name="request_id" value="(\d+)">'
        r'<input type="hidden" name="expert_id" value="([^"]+)">',
        page.text,
    )
    request_id, expert_id = assigned.groups()
    token = form_token(page.text)
    htmx = {"HX-Request": "true", "HX-Target": "proposal", "X-CSRF-Token": token}
    removed = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={"action": "remove", "request_id": request_id, "expert_id": expert_id},
        headers=htmx,
    )
    assert removed.status_code == 200
    assert removed.text.lstrip().startswith('<div id="proposal">') and "已移出" in removed.text
    other = "M2" if expert_id != "M2" else "M1"
    added = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={"action": "add", "request_id": request_id, "expert_id": other},
        headers=htmx,
    )
    assert added.status_code == 200 and "人工调整" in added.text


def test_adding_an_infeasible_expert_shows_the_reason_next_to_the_field(
    client, session, staff_user, pool
):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    token = form_token(page.text)
    response = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={"csrf_token": token, "action": "add", "request_id": str(pool.id), "expert_id": "M4"},
    )
    assert response.status_code == 422
    assert 'id="add-error"' in response.text and "不能把专家 M4 安排给申请" in response.text


def test_a_discarded_run_cannot_be_confirmed_later(client, session, staff_user, pool):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    token = form_token(page.text)
    discarded = client.post(f"/matching/runs/{run_id}/discard", data={"csrf_token": token})
    assert discarded.status_code == 200 and "方案已放弃" in discarded.text
    again = client.post(f"/matching/runs/{run_id}/confirm", data={"csrf_token": token})
    assert again.status_code == 409
    session.expire_all()
    assert session.get(MatchRun, run_id).status == "discarded"


def test_running_with_no_open_requests_says_so(client, app, session, staff_user):
    app.state.match_relevance = fake_relevance
    logged_in(client, staff_user)
    page = client.get("/matching").text
    response = client.post("/matching/runs", data=dict(form_fields(page, action="/matching/runs")))
    assert response.status_code == 422 and "没有待匹配的申请" in response.text


def test_matching_pages_are_for_staff_only(client, session, district_user, expert_user, pool):
    for user in (district_user, expert_user):
        logged_in(client, user)
        assert client.get("/matching").status_code == 403
        token = form_token(client.get("/").text)
        assert client.post("/matching/runs", data={"csrf_token": token}).status_code == 403


def _assigned(html: str) -> tuple[str, str]:
    found = re.search(
        r'name="action" value="remove"><input type="hidden" name="request_id" value="(\d+)">'
        r'<input type="hidden" name="expert_id" value="([^"]+)">',
        html,
    )
    return found.group(1), found.group(2)


def _stat(html: str, label: str) -> str:
    return re.search(rf"<dt>{label}</dt><dd>([^<]+)</dd>", html).group(1).strip()


def test_the_summary_recomputes_after_a_removal_and_confirmation_says_what_stays_open(
    client, session, staff_user, pool
):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    assert _stat(page.text, "已满足名额") == "1 / 1"
    request_id, expert_id = _assigned(page.text)
    token = form_token(page.text)
    removed = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={
            "csrf_token": token,
            "action": "remove",
            "request_id": request_id,
            "expert_id": expert_id,
        },
    )
    assert _stat(removed.text, "已满足名额") == "0 / 1"
    assert _stat(removed.text, "未满足需求") == "1"
    confirmed = client.post(f"/matching/runs/{run_id}/confirm", data={"csrf_token": token})
    assert "仍待匹配" in confirmed.text and f"#{request_id}" not in confirmed.text
    assert re.search(r"保持待匹配：「[^」]+」 · [^ ]+ · \d+月\d+日。", confirmed.text)
    assert "0 个专家名额已分配" in confirmed.text
    session.expire_all()
    assert session.get(DistrictRequest, pool.id).status == "submitted"


def test_staff_replace_an_assignment_with_the_alternate_in_one_click(
    client, session, staff_user, pool
):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    request_id, expert_id = _assigned(page.text)
    alternate = re.search(
        r'name="expert_id" value="' + re.escape(expert_id) + r'"><input type="hidden" '
        r'name="replace_with" value="([^"]+)">',
        page.text,
    )
    assert alternate, "no one-click replacement offered"
    replaced = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={
            "csrf_token": form_token(page.text),
            "action": "replace",
            "request_id": request_id,
            "expert_id": expert_id,
            "replace_with": alternate.group(1),
        },
    )
    assert replaced.status_code == 200 and "方案已调整" in replaced.text
    assert _assigned(replaced.text)[1] == alternate.group(1)
    assert _stat(replaced.text, "已满足名额") == "1 / 1"
    assert re.search(
        r'<span class="fit" title="匹配度 [0-9.]+">(很适合|适合|一般) <meter', replaced.text
    )


def test_staff_find_a_feasible_replacement_by_name_and_put_them_in(
    client, session, staff_user, pool
):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    request_id, expert_id = _assigned(page.text)
    url = f"/matching/runs/{run_id}/alternates"
    assert f"{url}?request_id={request_id}&amp;expert_id={expert_id}" in page.text
    params = {"request_id": request_id, "expert_id": expert_id}
    htmx = {"HX-Request": "true"}
    everyone = client.get(url, params=params, headers=htmx).text
    assert everyone.lstrip().startswith('<div class="alternates-list">')
    offered = re.findall(r'name="replace_with" value="([^"]+)">', everyone)
    # Feasible and not already on the request: 宝鸡丁 (M4) serves another city, so never.
    assert offered and expert_id not in offered and "M4" not in offered
    by_name = client.get(url, params={**params, "name": "丙"}, headers=htmx).text
    assert re.findall(r'name="replace_with" value="([^"]+)">', by_name) == ["M3"]
    assert "换成 家庭丙" in by_name
    nobody = client.get(url, params={**params, "name": "丁"}, headers=htmx).text
    assert '没有姓名含“<span class="user-text">丁</span>”且符合条件的专家' in nobody
    replaced = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={
            "csrf_token": form_token(page.text),
            "action": "replace",
            "request_id": request_id,
            "expert_id": expert_id,
            "replace_with": "M3",
        },
    )
    assert _assigned(replaced.text) == (request_id, "M3")
    assert _stat(replaced.text, "已满足名额") == "1 / 1"
    # Put in, the expert reads as fit as in the list they were picked from.
    listed = re.search(r'<span class="fit" title="(匹配度 [0-9.]+)">', by_name).group(1)
    assert f'<span class="fit" title="{listed}">' in replaced.text
    # Without JavaScript the same list is a page of its own, with the search form.
    whole = client.get(url, params={**params, "name": "危机"})
    assert whole.status_code == 200 and "<html" in whole.text and "专家姓名" in whole.text


def test_an_open_place_offers_a_search_by_name_to_add_an_expert(client, session, staff_user, pool):
    logged_in(client, staff_user)
    page, run_id = _run(client)
    request_id, expert_id = _assigned(page.text)
    removed = client.post(
        f"/matching/runs/{run_id}/adjust",
        data={
            "csrf_token": form_token(page.text),
            "action": "remove",
            "request_id": request_id,
            "expert_id": expert_id,
        },
    )
    assert "按姓名查找并添加专家" in removed.text
    listing = client.get(
        f"/matching/runs/{run_id}/alternates",
        params={"request_id": request_id, "name": "家庭"},
        headers={"HX-Request": "true"},
    ).text
    assert "添加 家庭丙" in listing and 'name="action" value="add"' in listing
