"""Seeding and looking up resource centers, and the districts each one covers."""

from __future__ import annotations

from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.centers.models import ResourceCenter
from marketplace.districts.models import City, District, Province
from marketplace.errors import InvalidInput


def seed_centers(*, session: Session) -> int:
    """One center per province and per city that has none yet; returns how many were added."""
    have_provinces = set(
        session.exec(
            select(ResourceCenter.province_id).where(col(ResourceCenter.city_id).is_(None))
        ).all()
    )
    have_cities = set(
        session.exec(
            select(ResourceCenter.city_id).where(col(ResourceCenter.city_id).is_not(None))
        ).all()
    )
    added = 0
    for province in session.exec(select(Province).order_by(col(Province.id))).all():
        assert province.id is not None  # read from the table
        if province.id not in have_provinces:
            session.add(ResourceCenter(name=province.name, province_id=province.id))
            added += 1
    for city in session.exec(select(City).order_by(col(City.id))).all():
        if city.id not in have_cities:
            session.add(
                ResourceCenter(name=city.name, province_id=city.province_id, city_id=city.id)
            )
            added += 1
    session.flush()
    return added


def province_center(*, session: Session) -> ResourceCenter | None:
    """The province center (the first province's, should there ever be more than one)."""
    return session.exec(
        select(ResourceCenter)
        .where(col(ResourceCenter.city_id).is_(None))
        .order_by(col(ResourceCenter.id))
    ).first()


def center_named(*, session: Session, name: str) -> ResourceCenter:
    """The center called `name` (a province or city name; 西安市 and 西安 both work)."""
    name = name.strip()
    for candidate in (name, name.removesuffix("市"), f"{name}市"):
        center = session.exec(
            select(ResourceCenter).where(ResourceCenter.name == candidate)
        ).first()
        if center is not None:
            return center
    raise InvalidInput(
        messages.CENTER_NOT_FOUND.format(name=name), code="center_not_found", field="center"
    )


def center_district_ids(*, session: Session, center: ResourceCenter) -> frozenset[int]:
    """The districts in the center's region."""
    query = select(District.id)
    if center.city_id is not None:
        query = query.where(District.city_id == center.city_id)
    else:
        query = query.join(City, col(City.id) == District.city_id).where(
            City.province_id == center.province_id
        )
    return frozenset(i for i in session.exec(query).all() if i is not None)


def label(center: ResourceCenter) -> str:
    return (
        messages.CENTER_PROVINCE
        if center.city_id is None
        else messages.CENTER_CITY.format(city=center.name)
    )
