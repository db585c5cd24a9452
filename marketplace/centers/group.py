"""A city center's expert group (市级专家指导组): experts attached to the center, each paired
with zones (片区) of the city. City staff keep their own city's group, province staff any city's
(the policy's `expert.group`). Batch matching over a city's districts ranks the group first
where fit is equal (matching.service reads `group_cities`), and counts a member as near for
requests from the zones they are paired with (`zone_pairs`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, delete, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Owner, permits
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.centers.models import (
    CenterExpert,
    ExpertGroupPublic,
    GroupMemberPublic,
    GroupMemberSet,
    GroupZone,
    ResourceCenter,
)
from marketplace.centers.service import label
from marketplace.districts.models import City, District, Zone, ZoneExpert
from marketplace.errors import Forbidden, InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.vocabulary import ExpertStatus


def group_center(*, session: Session, center_id: int, user: User) -> ResourceCenter:
    """The city center whose group `user` may keep; NotFound for the province center (it has
    no city group), Forbidden for another city's center."""
    center = session.get(ResourceCenter, center_id)
    if center is None:
        raise NotFound(messages.CENTER_NOT_FOUND.format(name=center_id), code="center_not_found")
    if not permits(session, user, Action.expert_group, Owner(center_id=center.id)):
        raise Forbidden(messages.GROUP_FOREIGN, code="foreign_center")
    if center.city_id is None:
        raise NotFound(messages.GROUP_PROVINCE, code="no_expert_group")
    return center


def group_centers(*, session: Session, user: User) -> list[ResourceCenter]:
    """The city centers whose group `user` may keep (their own; every city for the province)."""
    centers = session.exec(
        select(ResourceCenter)
        .where(col(ResourceCenter.city_id).is_not(None))
        .order_by(col(ResourceCenter.id))
    ).all()
    return [
        c for c in centers if permits(session, user, Action.expert_group, Owner(center_id=c.id))
    ]


def _city_zones(session: Session, center: ResourceCenter) -> list[Zone]:
    return list(
        session.exec(
            select(Zone).where(Zone.city_id == center.city_id).order_by(col(Zone.id))
        ).all()
    )


def expert_group(*, session: Session, center_id: int, user: User) -> ExpertGroupPublic:
    """The group's members with their zones, and the city's zones to pair them with."""
    center = group_center(session=session, center_id=center_id, user=user)
    zones = _city_zones(session, center)
    zone_names = {z.id: z.name for z in zones}
    members = session.exec(
        select(Expert)
        .join(CenterExpert, col(CenterExpert.expert_id) == Expert.id)
        .where(CenterExpert.center_id == center.id)
        .order_by(col(Expert.name), col(Expert.id))
    ).all()
    pairs: dict[str, list[int]] = {}
    for expert_id, zone_id in session.exec(
        select(ZoneExpert.expert_id, ZoneExpert.zone_id).where(
            col(ZoneExpert.zone_id).in_(list(zone_names) or [0])
        )
    ).all():
        pairs.setdefault(expert_id, []).append(zone_id)
    return ExpertGroupPublic(
        center_id=center.id or 0,
        center=label(center),
        zones=[GroupZone(id=z.id or 0, name=z.name) for z in zones],
        members=[
            GroupMemberPublic(
                expert_id=e.id,
                name=e.name,
                domain=e.domain,
                zones=[GroupZone(id=z, name=zone_names[z]) for z in sorted(pairs.get(e.id, []))],
            )
            for e in members
        ],
    )


def _member_view(session: Session, center_id: int, expert_id: str, user: User) -> GroupMemberPublic:
    group = expert_group(session=session, center_id=center_id, user=user)
    return next(m for m in group.members if m.expert_id == expert_id)


def set_member(
    *, session: Session, center_id: int, data: GroupMemberSet, user: User
) -> GroupMemberPublic:
    """Attach an expert to the city's group, paired with `data.zone_ids` (which replace the
    zones they served before); zones must be the city's own."""
    center = group_center(session=session, center_id=center_id, user=user)
    expert = session.get(Expert, data.expert_id)
    if expert is None:
        raise NotFound(
            messages.EXPERT_NOT_FOUND.format(id=data.expert_id),
            code="expert_not_found",
            field="expert_id",
        )
    city_zones = {z.id for z in _city_zones(session, center)}
    wanted = set(data.zone_ids)
    if not wanted <= city_zones:
        raise InvalidInput(messages.GROUP_ZONE_OUTSIDE, code="zone_outside", field="zone_ids")
    existing = session.get(CenterExpert, (center.id, expert.id))
    before = sorted(
        session.exec(
            select(ZoneExpert.zone_id).where(
                ZoneExpert.expert_id == expert.id, col(ZoneExpert.zone_id).in_(city_zones or {0})
            )
        ).all()
    )
    if existing is None:
        session.add(CenterExpert(center_id=center.id or 0, expert_id=expert.id))
    _drop_city_pairs(session, expert.id, city_zones)
    for zone_id in sorted(wanted):
        session.add(ZoneExpert(zone_id=zone_id, expert_id=expert.id))
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="center.group_set",
        entity_type="center",
        entity_id=str(center.id),
        before=None if existing is None else {"expert_id": expert.id, "zone_ids": before},
        after={"expert_id": expert.id, "zone_ids": sorted(wanted)},
    )
    return _member_view(session, center.id or 0, expert.id, user)


def _drop_city_pairs(session: Session, expert_id: str, city_zones: Collection[int | None]) -> None:
    """Delete the expert's pairs with the city's zones (its pairs elsewhere stay)."""
    session.exec(
        delete(ZoneExpert).where(
            col(ZoneExpert.expert_id) == expert_id,
            col(ZoneExpert.zone_id).in_(list(city_zones) or [0]),
        )
    )


def remove_member(*, session: Session, center_id: int, expert_id: str, user: User) -> None:
    """Detach an expert from the city's group, with their pairs to the city's zones."""
    center = group_center(session=session, center_id=center_id, user=user)
    member = session.get(CenterExpert, (center.id, expert_id))
    if member is None:
        raise NotFound(messages.GROUP_NOT_MEMBER, code="not_member", field="expert_id")
    city_zones = [z.id for z in _city_zones(session, center)]
    _drop_city_pairs(session, expert_id, city_zones)
    session.delete(member)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="center.group_remove",
        entity_type="center",
        entity_id=str(center.id),
        before={"expert_id": expert_id},
    )


def group_cities(*, session: Session) -> dict[str, set[int]]:
    """expert id → the cities whose center's expert group the expert belongs to."""
    groups: dict[str, set[int]] = {}
    for expert_id, city_id in session.exec(
        select(CenterExpert.expert_id, ResourceCenter.city_id).join(
            ResourceCenter, col(ResourceCenter.id) == CenterExpert.center_id
        )
    ).all():
        if city_id is not None:
            groups.setdefault(expert_id, set()).add(city_id)
    return groups


def zone_pairs(*, session: Session) -> dict[str, set[tuple[str, str]]]:
    """expert id → (city, zone) names of the zones the expert is paired with as a member of that
    city's expert group (matching counts them as near for those zones' districts)."""
    pairs: dict[str, set[tuple[str, str]]] = {}
    for expert_id, city, zone in session.exec(
        select(ZoneExpert.expert_id, City.name, Zone.name)
        .join(Zone, col(Zone.id) == ZoneExpert.zone_id)
        .join(City, col(City.id) == Zone.city_id)
        .join(ResourceCenter, col(ResourceCenter.city_id) == City.id)
        .join(
            CenterExpert,
            (col(CenterExpert.center_id) == ResourceCenter.id)
            & (col(CenterExpert.expert_id) == ZoneExpert.expert_id),
        )
    ).all():
        pairs.setdefault(expert_id, set()).add((city, zone))
    return pairs


def seed_demo_groups(*, session: Session, per_city: int = 6) -> int:
    """Demo city expert groups: each city center keeps the first `per_city` active experts
    working in its city, each paired with the zone of their own district."""
    added = 0
    centers = session.exec(
        select(ResourceCenter).where(col(ResourceCenter.city_id).is_not(None))
    ).all()
    for center in centers:
        experts = session.exec(
            select(Expert.id, District.zone_id)
            .join(District, col(District.id) == Expert.district_id)
            .where(
                District.city_id == center.city_id,
                Expert.status == ExpertStatus.active.value,
            )
            .order_by(col(Expert.id))
            .limit(per_city)
        ).all()
        for expert_id, zone_id in experts:
            session.add(CenterExpert(center_id=center.id or 0, expert_id=expert_id))
            if zone_id is not None:
                session.add(ZoneExpert(zone_id=zone_id, expert_id=expert_id))
            added += 1
    session.flush()
    return added
