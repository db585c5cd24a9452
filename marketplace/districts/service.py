"""Region look-ups and seeding of the province → city → zone → district tree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.centers.service import seed_centers
from marketplace.districts.models import City, District, DistrictPublic, Province, Zone
from marketplace.errors import InvalidInput, NotFound

DEFAULT_REGIONS_FILE = Path(__file__).resolve().parent.parent / "data" / "regions.json"


@dataclass(frozen=True)
class RegionNames:
    province: str
    city: str
    district: str
    zone: str | None = None


def seed_regions(*, session: Session, path: Path = DEFAULT_REGIONS_FILE) -> int:
    """Insert the regions of a regions file that are not there yet; returns how many districts were added."""
    data = json.loads(path.read_text(encoding="utf-8"))
    province = session.exec(select(Province).where(Province.name == data["province"])).first()
    if province is None:
        province = Province(name=data["province"])
        session.add(province)
        session.flush()
    assert province.id is not None
    added = 0
    for city_data in data["cities"]:
        city = session.exec(
            select(City).where(City.province_id == province.id, City.name == city_data["name"])
        ).first()
        if city is None:
            city = City(province_id=province.id, name=city_data["name"])
            session.add(city)
            session.flush()
        assert city.id is not None
        for zone_data in city_data.get("zones", []):
            zone = session.exec(
                select(Zone).where(Zone.city_id == city.id, Zone.name == zone_data["name"])
            ).first()
            if zone is None:
                zone = Zone(city_id=city.id, name=zone_data["name"])
                session.add(zone)
                session.flush()
            assert zone.id is not None
            for district_data in zone_data["districts"]:
                exists = session.exec(
                    select(District).where(
                        District.city_id == city.id, District.name == district_data["name"]
                    )
                ).first()
                if exists is None:
                    session.add(
                        District(
                            city_id=city.id,
                            zone_id=zone.id,
                            name=district_data["name"],
                            student_count=district_data.get("student_count", 0),
                        )
                    )
                    added += 1
    session.flush()
    seed_centers(session=session)
    return added


class RegionIndex:
    """An in-memory map of region names to district ids, for bulk work such as imports."""

    def __init__(self, session: Session) -> None:
        rows = session.exec(
            select(District, City, Province, Zone)
            .join(City, col(City.id) == col(District.city_id))
            .join(Province, col(Province.id) == col(City.province_id))
            .outerjoin(Zone, col(Zone.id) == col(District.zone_id))
        ).all()
        self._by_names: dict[tuple[str, str, str], int] = {}
        self._names: dict[int, RegionNames] = {}
        for district, city, province, zone in rows:
            assert district.id is not None
            self._by_names[(province.name, city.name, district.name)] = district.id
            self._names[district.id] = RegionNames(
                province.name, city.name, district.name, zone.name if zone else None
            )

    def district_id(self, province: str, city: str, district: str) -> int:
        try:
            return self._by_names[(province, city, district)]
        except KeyError:
            raise InvalidInput(
                messages.REGION_NOT_FOUND.format(province=province, city=city, district=district),
                code="region_not_found",
                field="region",
            ) from None

    def names(self, district_id: int) -> RegionNames:
        return self._names[district_id]


def regions_by_id(*, session: Session, district_ids: set[int]) -> dict[int, RegionNames]:
    """Province, city, district and zone names of the given districts, in one query."""
    if not district_ids:
        return {}
    rows = session.exec(
        select(District, Province.name, City.name, Zone.name)
        .join(City, col(City.id) == District.city_id)
        .join(Province, col(Province.id) == City.province_id)
        .outerjoin(Zone, col(Zone.id) == District.zone_id)
        .where(col(District.id).in_(district_ids))
    ).all()
    return {
        district.id: RegionNames(province, city, district.name, zone)
        for district, province, city, zone in rows
        if district.id is not None
    }


def find_district(*, session: Session, name: str) -> District:
    """A district by "区县", "市/区县" or "省/市/区县"; ambiguous bare names are refused."""
    parts = [p for p in name.replace("／", "/").split("/") if p.strip()]
    if not parts:
        raise InvalidInput(
            messages.DISTRICT_NOT_FOUND.format(name=name), code="district_not_found", field="region"
        )
    query = (
        select(District, City)
        .join(City, col(City.id) == col(District.city_id))
        .where(District.name == parts[-1].strip())
    )
    if len(parts) >= 2:
        query = query.where(City.name == parts[-2].strip())
    matches = session.exec(query).all()
    if not matches:
        raise NotFound(
            messages.DISTRICT_NOT_FOUND.format(name=name), code="district_not_found", field="region"
        )
    if len(matches) > 1:
        raise InvalidInput(
            messages.REGION_AMBIGUOUS.format(name=name), code="region_ambiguous", field="region"
        )
    return matches[0][0]


def list_districts(*, session: Session) -> list[DistrictPublic]:
    """Every district with its province, city and zone names."""
    index = RegionIndex(session)
    districts = session.exec(
        select(District).order_by(col(District.city_id), col(District.id))
    ).all()
    result = []
    for d in districts:
        assert d.id is not None
        names = index.names(d.id)
        result.append(
            DistrictPublic(
                id=d.id,
                province=names.province,
                city=names.city,
                district=names.district,
                zone=names.zone,
                student_count=d.student_count,
            )
        )
    return result
