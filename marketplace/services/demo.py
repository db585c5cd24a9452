"""Demo procured services and district applications (for `heart demo`), dated around today."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import approve_application, record_usage
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import create_application
from marketplace.centers.service import center_named
from marketplace.districts.models import City, Zone
from marketplace.districts.service import find_district
from marketplace.ids import stored_id
from marketplace.services.models import ProcuredService, ServiceCreate, ServiceKind
from marketplace.services.service import create_service, today

# Demo seeding acts as the system principal ("demo"; a district's application as "demo:<district>").
DEMO = system_principal("demo")


def _xian_zone_ids(session: Session) -> list[int]:
    rows = session.exec(
        select(Zone.id).join(City, col(City.id) == Zone.city_id).where(City.name == "西安市")
    )
    return sorted(z for z in rows.all() if z is not None)


def _demo_catalogue(session: Session) -> list[ServiceCreate]:
    start, end = today() - timedelta(days=60), today() + timedelta(days=305)
    return [
        ServiceCreate(
            name="心理测评量表授权（中小学生心理健康筛查）",
            kind=ServiceKind.assessment_licence,
            vendor="华心测评科技有限公司",
            unit="份",
            quantity=Decimal(20000),
            valid_from=start,
            valid_to=end,
            description=(
                "中小学生心理健康量表、SCL-90 等常用量表的线上施测授权，"
                "每份授权限一名学生施测一次。"
            ),
        ),
        ServiceCreate(
            name="学校心理危机干预高级研修班名额",
            kind=ServiceKind.training_seats,
            vendor="省教师发展中心",
            unit="人",
            quantity=Decimal(60),
            valid_from=start,
            valid_to=end,
            description="面向区县心理教研员和学校专职心理教师的五天脱产研修，含危机评估与转介实操。",
        ),
        ServiceCreate(
            name="专家督导小时包",
            kind=ServiceKind.supervision_hours,
            vendor="省心理卫生协会",
            unit="小时",
            quantity=Decimal(300),
            valid_from=start,
            valid_to=end,
            description="由库内专家为学校心理教师提供个案督导与团体督导，线上线下均可，按实际完成场次计时。",
        ),
        ServiceCreate(
            name="心理援助热线服务（西安市）",
            kind=ServiceKind.hotline,
            vendor="西安市心理援助热线中心",
            unit="区县·月",
            quantity=Decimal(120),
            valid_from=start,
            valid_to=end,
            eligible_zone_ids=_xian_zone_ids(session),
            description="为学生和家长提供 7×24 小时心理援助热线接听与危机转介，按区县按月开通。",
        ),
    ]


# (district, service index, requested, approved or None for pending, used)
DEMO_APPLICATIONS = [
    ("西安市/碑林区", 2, 40, 30, 6, "初中心理教师个案督导，每校每月一次"),
    ("西安市/雁塔区", 2, 30, None, 0, "高中心理危机个案团体督导"),
    ("西安市/周至县", 2, 20, None, 0, "乡村学校心理教师督导，首次申请"),
    ("延安市/宝塔区", 0, 3000, 3000, 1200, "七年级、十年级新生心理健康筛查"),
    ("西安市/周至县", 1, 4, None, 0, "选派专职心理教师参加高级研修"),
    ("宝鸡市/渭滨区", 1, 6, 5, 0, "区心理教研员与骨干教师研修"),
    ("西安市/碑林区", 3, 12, 12, 2, "全区中小学开通热线转介"),
    ("西安市/雁塔区", 3, 6, None, 0, "雁塔区中学开通热线转介，先试半年"),
]
# The hotline is bought by 西安市's own center (a city service); the rest by the province.
CITY_SERVICES = {3: "西安市"}


def seed_demo_services(*, session: Session) -> int:
    """Add the demo services and applications unless present; returns the services added."""
    existing = set(session.exec(select(ProcuredService.name)).all())
    catalogue = _demo_catalogue(session)
    if any(item.name in existing for item in catalogue):
        return 0
    services = [create_service(session=session, data=item, user=DEMO) for item in catalogue]
    for index, city in CITY_SERVICES.items():
        services[index].center_id = center_named(session=session, name=city).id
        session.add(services[index])
    for district, index, requested, approved, used, purpose in DEMO_APPLICATIONS:
        application = create_application(
            session=session,
            data=ApplicationCreate(
                service_id=services[index].id or 0, quantity=Decimal(requested), purpose=purpose
            ),
            district_id=find_district(session=session, name=district).id,
            user=system_principal(f"demo:{district}"),
        )
        if approved is None:
            continue
        approve_application(
            session=session,
            application_id=application.id or 0,
            quantity=Decimal(approved),
            user=DEMO,
        )
        if used:
            record_usage(
                session=session,
                application_id=stored_id(application),
                quantity=Decimal(used),
                reference="demo",
                user=DEMO,
            )
    session.flush()
    return len(services)
