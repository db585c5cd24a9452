"""A JSON body with a field its schema does not have is refused (422, Chinese, naming the field).

`PATCH /api/me` with `{"phone": ..., "nickname": ...}` used to answer 200 and drop `nickname`
without a word: a misspelt field looked saved. Every JSON body schema is an InputModel, which
forbids unknown fields, nested ones included; the first test walks the live route table, so a
new route with a lenient body fails here.
"""

from __future__ import annotations

import types
import typing

import pytest
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from marketplace.accounts.models import User
from marketplace.validation import InputModel
from marketplace.vocabulary import Role
from tests.booking.conftest import WORKDAY
from tests.conftest import auth_headers, expert_record, make_user
from tests.web.pages.conftest import import_records


def _body_params(dependant) -> list:  # type: ignore[no-untyped-def]
    found = list(dependant.body_params)
    for sub in dependant.dependencies:
        found += _body_params(sub)
    return found


def _models(annotation: object) -> set[type[BaseModel]]:
    """The pydantic models an annotation holds (Optional, lists and dicts looked into)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = {annotation}
        for field in annotation.model_fields.values():
            found |= _models(field.annotation)
        return found
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return set().union(*(_models(arg) for arg in typing.get_args(annotation)))
    return set()


def test_every_json_body_schema_refuses_unknown_fields_nested_ones_included(app):
    lenient = set()
    checked = 0
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        for param in _body_params(dependant):
            if type(param.field_info).__name__ in ("Form", "File"):
                continue  # forms are read field by field by the page routes
            for model in _models(param.field_info.annotation):
                checked += 1
                if not issubclass(model, InputModel) or model.model_config.get("extra") != "forbid":
                    lenient.add(f"{sorted(route.methods)} {route.path}: {model.__name__}")
    assert checked > 30
    assert not lenient, f"body schemas that accept unknown fields: {sorted(lenient)}"


@pytest.fixture
def people(session, settings):
    import_records(session, expert_record(id="UF1", name="于老师"))
    expert = make_user(session, Role.expert, username="uf-expert", expert_id="UF1")
    staff = make_user(session, Role.staff, username="uf-staff")
    session.commit()
    return {
        "expert": auth_headers(expert, settings),
        "staff": auth_headers(staff, settings),
        "expert_user": expert,
    }


def _refused_naming(response, field: str) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert field in detail and "没有这个字段" in detail, detail


def test_patch_me_with_an_unknown_field_is_422_naming_it_and_saves_nothing(client, people, session):
    response = client.patch(
        "/api/me",
        json={"phone": "13800000000", "nickname": "小于"},
        headers=people["expert"],
    )
    _refused_naming(response, "nickname")
    session.expire_all()
    assert session.get(User, people["expert_user"].id).phone in (None, "")
    # The same change without the unknown field goes through.
    ok = client.patch("/api/me", json={"phone": "13800000000"}, headers=people["expert"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["phone"] == "13800000000"


def test_a_misspelt_field_in_an_expert_update_is_422_naming_it(client, people):
    response = client.patch(
        "/api/experts/UF1", json={"specialities": ["学业压力与考试焦虑"]}, headers=people["staff"]
    )
    _refused_naming(response, "specialities")


def test_an_unknown_field_inside_a_nested_rule_is_422_naming_its_path(client, people):
    weekly = [{**WORKDAY["weekly"][0], "weekday_name": "周一"}, *WORKDAY["weekly"][1:]]
    response = client.put(
        "/api/experts/UF1/availability",
        json={**WORKDAY, "weekly": weekly},
        headers=people["expert"],
    )
    _refused_naming(response, "weekly.0.weekday_name")
    stored = client.get("/api/experts/UF1/availability", headers=people["expert"]).json()
    assert stored["weekly"] == []


def test_a_password_change_with_an_unknown_field_is_422(client, people):
    response = client.post(
        "/api/me/password",
        json={"old_password": "x", "new_password": "y", "confirm": "y"},
        headers=people["expert"],
    )
    _refused_naming(response, "confirm")


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        '{"phone": ' + "9" * 5_000 + "}",
    ],
    ids=["array-100k-deep", "object-5k-deep", "5000-digit-number"],
)
def test_json_nested_too_deep_or_with_a_huge_number_is_400_saying_so(client, people, body):
    response = client.patch(
        "/api/me", content=body, headers={**people["expert"], "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "不是有效的 JSON：数字过长或嵌套过深"
