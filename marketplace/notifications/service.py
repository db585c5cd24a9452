"""Write inbox entries in the caller's transaction (with the event), list them, mark them read.

`notify` only adds rows to the session it is given: the event and its notifications commit or
roll back together, so there is never an event without its notification or the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, roles_with
from marketplace.centers.models import ResourceCenter
from marketplace.clock import utcnow
from marketplace.districts.models import District
from marketplace.errors import NotFound
from marketplace.notifications.models import Notification, NotificationKind, NotificationPublic
from marketplace.vocabulary import Role

# Staff notices go to those who decide for the whole province (the policy's scope `all`).
STAFF_ROLES = roles_with(Action.application_decide)


def recipients(
    *,
    session: Session,
    district_id: int | None = None,
    expert_id: str | None = None,
    staff: bool = False,
    staff_of_district: int | None = None,
    staff_of_center: int | None = None,
) -> list[int]:
    """Ids of the active users concerned: a district's coordinators, an expert's account,
    province staff (`staff`), the centers' staff acting for a district's records (its city's
    center and the province's: `staff_of_district`), or the staff of the center that owns a
    record (`staff_of_center`: a city center's own staff, or the province's)."""
    clauses: list[ColumnElement[bool]] = []
    for center_id in (_center_of(session, staff_of_district), staff_of_center):
        if center_id is None:
            continue
        center = session.get(ResourceCenter, center_id)
        if center is None or center.city_id is None:
            staff = True
        else:
            clauses.append(
                and_(col(User.role) == Role.city_staff.value, col(User.center_id) == center_id)
            )
    if staff_of_district is not None:
        staff = True
    if district_id is not None:
        clauses.append(
            and_(col(User.role) == Role.district.value, col(User.district_id) == district_id)
        )
    if expert_id is not None:
        clauses.append(and_(col(User.role) == Role.expert.value, col(User.expert_id) == expert_id))
    if staff:
        clauses.append(col(User.role).in_(STAFF_ROLES))
    if not clauses:
        return []
    query = select(User.id).where(or_(*clauses), col(User.is_active).is_(True))
    return sorted({i for i in session.exec(query).all() if i is not None})


def _center_of(session: Session, district_id: int | None) -> int | None:
    """The city center of a district's city (None: no district, or no such center)."""
    if district_id is None:
        return None
    district = session.get(District, district_id)
    if district is None:
        return None
    return session.exec(
        select(ResourceCenter.id).where(ResourceCenter.city_id == district.city_id)
    ).first()


def notify(
    *,
    session: Session,
    user_ids: Iterable[int],
    kind: NotificationKind | str,
    title: str,
    link: str = "",
    dedupe_key: str,
    now: datetime | None = None,
) -> int:
    """Add one inbox entry per user for this event (skipping users who already have it)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return 0
    key = dedupe_key[:200]
    existing = set(
        session.exec(
            select(Notification.user_id).where(
                col(Notification.user_id).in_(wanted), Notification.dedupe_key == key
            )
        ).all()
    )
    created = now or utcnow()
    added = 0
    for user_id in wanted:
        if user_id in existing:
            continue
        session.add(
            Notification(
                user_id=user_id,
                kind=str(kind),
                title=title[:200],
                link=link[:300],
                dedupe_key=key,
                created_at=created,
            )
        )
        added += 1
    if added:
        session.flush()
    return added


def settle(*, session: Session, dedupe_key: str, title: str, now: datetime | None = None) -> int:
    """Settle an event's entries for everyone they went to (someone dealt with it): each is
    marked read and retitled with the outcome; returns how many entries there were."""
    result = session.exec(  # sqlmodel types exec(UPDATE) as a CursorResult (execute: Result)
        update(Notification)
        .where(col(Notification.dedupe_key) == dedupe_key[:200])
        .values(
            read_at=func.coalesce(col(Notification.read_at), now or utcnow()),
            title=title[:200],
        )
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return int(result.rowcount or 0)


def list_notifications(
    *, session: Session, user_id: int, unread_only: bool = False, limit: int = 100
) -> list[Notification]:
    """The user's entries, newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    query = query.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
    return list(session.exec(query.limit(limit)).all())


def unread_count(*, session: Session, user_id: int) -> int:
    """How many of the user's entries are unread (the navigation badge)."""
    query = select(func.count()).where(
        Notification.user_id == user_id, col(Notification.read_at).is_(None)
    )
    return int(session.exec(query).one())


def mark_read(
    *, session: Session, user_id: int, notification_id: int, now: datetime | None = None
) -> Notification:
    """Mark one of the user's own entries read (NotFound for anyone else's)."""
    entry = session.get(Notification, notification_id)
    if entry is None or entry.user_id != user_id:
        raise NotFound(messages.NOTIFICATION_NOT_FOUND)
    if entry.read_at is None:
        entry.read_at = now or utcnow()
        session.add(entry)
        session.flush()
    return entry


def mark_all_read(*, session: Session, user_id: int, now: datetime | None = None) -> int:
    """Mark every unread entry of the user read; returns how many changed."""
    result = session.exec(  # sqlmodel types exec(UPDATE) as a CursorResult (execute: Result)
        update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=now or utcnow())
    )
    session.flush()
    return int(result.rowcount or 0)


def public_view(entry: Notification) -> NotificationPublic:
    return NotificationPublic(
        id=entry.id or 0,
        kind=entry.kind,
        title=entry.title,
        link=entry.link,
        created_at=entry.created_at,
        read_at=entry.read_at,
    )
