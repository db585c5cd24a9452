"""The context beside a pending application: stock, the district's term share, the fair share."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import approval_contexts, approve_application
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import create_application
from marketplace.audit.service import Actor
from marketplace.districts.service import find_district
from marketplace.reports.periods import term_of
from marketplace.services.service import today
from tests.conftest import make_service

ACTOR = Actor.system("test")
SYSTEM = system_principal("test")


def _service(session, quantity=10):
    return make_service(
        session,
        name="量表授权",
        kind="assessment_licence",
        unit="份",
        quantity=quantity,
        days=200,
        user=SYSTEM,
    )


def _apply(session, service, district, quantity):
    return create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=quantity, purpose="测评"),
        district_id=district.id,
        user=SYSTEM,
    )


def test_the_context_counts_this_terms_approvals_per_thousand_students_and_the_fair_share(
    session,
):
    beilin = find_district(session=session, name="西安市/碑林区")
    yanta = find_district(session=session, name="西安市/雁塔区")
    beilin.student_count, yanta.student_count = 20_000, 20_000
    service = _service(session, quantity=10)
    first = _apply(session, service, beilin, 4)
    approve_application(session=session, application_id=first.id, quantity=Decimal(4), user=SYSTEM)
    again = _apply(session, service, beilin, 6)
    newcomer = _apply(session, service, yanta, 6)
    session.flush()

    contexts = approval_contexts(session=session, applications=[first, again, newcomer])

    assert set(contexts) == {again.id, newcomer.id}  # decided applications need no context
    mine, theirs = contexts[again.id], contexts[newcomer.id]
    assert mine.remaining_quantity == theirs.remaining_quantity == 6
    assert mine.district_period_total == 4 and mine.district_period_per_10k == 2.0
    assert theirs.district_period_total == 0
    # water-filling: the newcomer is topped up to Beilin's level (4) first, then 1 each
    assert (theirs.suggested_quantity, mine.suggested_quantity) == (5, 1)
    assert theirs.left_after_suggestion == 1
    assert mine.period_label == term_of(today()).label


def test_approvals_of_an_earlier_term_do_not_count_as_this_terms_share(session):
    beilin = find_district(session=session, name="西安市/碑林区")
    service = _service(session)
    first = _apply(session, service, beilin, 2)
    approve_application(session=session, application_id=first.id, quantity=Decimal(2), user=SYSTEM)
    pending = _apply(session, service, beilin, 2)
    later = term_of(term_of(today()).end + timedelta(days=1)).start
    [context] = approval_contexts(session=session, applications=[pending], on=later).values()
    assert context.district_period_total == 0
    assert context.period_label != term_of(today()).label


def test_terms_follow_the_school_year():
    assert term_of(date(2027, 1, 15)).key == "2026-autumn"
    assert term_of(date(2027, 3, 1)).key == "2027-spring"
    assert term_of(date(2027, 9, 1)).key == "2027-autumn"
