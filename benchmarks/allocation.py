"""Allocation throughput and the fair proposal, each against a baseline measured in the same run.

    python benchmarks/allocation.py [--approvals 200] [--clients 20] [--applications 1000]
                                    [--districts 100] [--no-http]

1. Approvals per second through the HTTP API with `--clients` concurrent clients, against the
   baseline of the same number of approvals sent serially by one client. The service holds half
   as many units as there are applications, so half the approvals must be refused (409); the
   run checks that exactly that many were granted (no oversubscription). SQLite always;
   PostgreSQL too when HEART_TEST_PG_URL is set.
2. The fair proposal (weighted water-filling) for `--applications` pending applications across
   `--districts` districts, against the naive proportional split (each application gets
   capacity × request / Σ requests): time, and equity of the resulting per-student quantities
   (population-weighted Gini; lower is fairer) and how many districts with no allocation yet
   receive nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import select  # noqa: E402

from marketplace.accounts.models import User  # noqa: E402
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import issue_token  # noqa: E402
from marketplace.allocation.fairness import DistrictInfo, PendingApplication, propose  # noqa: E402
from marketplace.applications.models import ApplicationCreate  # noqa: E402
from marketplace.applications.service import create_application  # noqa: E402
from marketplace.audit.service import Actor  # noqa: E402
from marketplace.db import make_engine, run_migrations, session_scope  # noqa: E402
from marketplace.districts.models import District  # noqa: E402
from marketplace.districts.service import seed_regions  # noqa: E402
from marketplace.reports.equity import gini  # noqa: E402
from marketplace.services.models import ServiceCreate  # noqa: E402
from marketplace.services.service import create_service, today  # noqa: E402
from marketplace.settings import Settings  # noqa: E402

SECRET = "benchmark-secret-" + "b" * 40
ACTOR = Actor.system("benchmark")
SYSTEM = system_principal("benchmark")


# --- 1. approvals under concurrency --------------------------------------------------------


def _pg_database(admin_url: str) -> tuple[str, callable]:
    name = f"heart_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def _prepare(engine, applications: int) -> tuple[int, list[int]]:
    """A service with half as many units as there are one-unit applications."""
    with session_scope(engine) as session:
        service = create_service(
            session=session,
            data=ServiceCreate(
                name=f"基准测试督导包 {uuid.uuid4().hex[:6]}",
                kind="supervision_hours",
                unit="小时",
                quantity=Decimal(applications // 2),
                valid_from=today(),
                valid_to=today() + timedelta(days=30),
            ),
            user=SYSTEM,
        )
        districts = session.exec(select(District.id).order_by(District.id)).all()
        ids = [
            create_application(
                session=session,
                data=ApplicationCreate(
                    service_id=service.id, quantity=Decimal(1), purpose="基准测试"
                ),
                district_id=districts[i % len(districts)],
                user=SYSTEM,
            ).id
            for i in range(applications)
        ]
    return service.id, ids


def _approve_all(client, headers, ids: list[int], clients: int) -> tuple[float, Counter]:
    def approve(application_id: int) -> int:
        return client.post(
            f"/api/applications/{application_id}/approve", json={"quantity": 1}, headers=headers
        ).status_code

    started = time.perf_counter()
    if clients == 1:
        codes = Counter(approve(i) for i in ids)
    else:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            codes = Counter(pool.map(approve, ids))
    return time.perf_counter() - started, codes


def bench_approvals(
    label: str, database_url: str, data_dir: Path, approvals: int, clients: int
) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    settings = Settings(
        environment="test", secret_key=SECRET, data_dir=data_dir, database_url=database_url
    )
    engine = make_engine(settings)
    run_migrations(engine)
    with session_scope(engine) as session:
        seed_regions(session=session)
        staff = User(username="bench-staff", password_hash="!", role="staff")
        session.add(staff)
        session.flush()
        token = issue_token(session=session, user=staff, secret=SECRET, minutes=60)
        headers = {"Authorization": f"Bearer {token}"}
    serial_service, serial_ids = _prepare(engine, approvals)
    concurrent_service, concurrent_ids = _prepare(engine, approvals)
    app = create_app(settings)
    app.state.engine = engine
    with TestClient(app) as client:
        serial_seconds, serial_codes = _approve_all(client, headers, serial_ids, 1)
        concurrent_seconds, concurrent_codes = _approve_all(
            client, headers, concurrent_ids, clients
        )
        for service_id, codes in (
            (serial_service, serial_codes),
            (concurrent_service, concurrent_codes),
        ):
            remaining = client.get(f"/api/services/{service_id}", headers=headers).json()[
                "remaining_quantity"
            ]
            assert codes[200] == approvals // 2 and remaining == 0, (codes, remaining)
    engine.dispose()
    serial_rate = approvals / serial_seconds
    concurrent_rate = approvals / concurrent_seconds
    print(
        f"[{label}] approval decisions/s: {clients} clients {concurrent_rate:7.1f}  |  baseline serial "
        f"(1 client) {serial_rate:7.1f}  |  ratio {concurrent_rate / serial_rate:4.2f}x  |  "
        f"granted {concurrent_codes[200]}/{approvals}, refused 409 {concurrent_codes[409]}, "
        f"other {sum(v for k, v in concurrent_codes.items() if k not in (200, 409))} — never oversubscribed"
    )


# --- 2. the fair proposal ------------------------------------------------------------------


def proportional_split(capacity: int, applications: list[PendingApplication]) -> dict[int, int]:
    """Baseline: every application gets the same fraction of its request."""
    total = sum(a.requested for a in applications)
    if total <= capacity:
        return {a.application_id: a.requested for a in applications}
    return {a.application_id: capacity * a.requested // total for a in applications}


def strict_tiers(
    capacity: int, districts: list[DistrictInfo], applications: list[PendingApplication]
) -> dict[int, int]:
    """Variant rejected for the rule: districts with no allocation yet take everything first."""
    new = {d.district_id for d in districts if d.past == 0}
    first = propose(
        capacity=capacity,
        districts=districts,
        applications=[a for a in applications if a.district_id in new],
    )
    rest = [a for a in applications if a.district_id not in new]
    second = propose(
        capacity=capacity - first.total_proposed, districts=districts, applications=rest
    )
    return {**first.allocations, **second.allocations}


def bench_fair_proposal(n_applications: int, n_districts: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    districts = [
        DistrictInfo(
            i,
            f"区县{i}",
            rng.randint(20_000, 140_000),
            0 if rng.random() < 0.4 else rng.randint(1, 40) * 100,
        )
        for i in range(1, n_districts + 1)
    ]
    applications = [
        PendingApplication(a, rng.randint(1, n_districts), rng.choice([2, 5, 10, 20, 40, 80]) * 100)
        for a in range(1, n_applications + 1)
    ]
    capacity = sum(a.requested for a in applications) // 3

    def timed(fn, repeat: int = 5) -> tuple[float, object]:
        best, result = float("inf"), None
        for _ in range(repeat):
            started = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - started)
        return best, result

    fair_seconds, proposal = timed(
        lambda: propose(capacity=capacity, districts=districts, applications=applications)
    )
    naive_seconds, naive = timed(lambda: proportional_split(capacity, applications))

    info = {d.district_id: d for d in districts}
    demand = Counter()
    for a in applications:
        demand[a.district_id] += a.requested

    def measures(shares: dict[int, int]) -> dict[str, float]:
        given = Counter()
        for a in applications:
            given[a.district_id] += shares.get(a.application_id, 0)
        applied = sorted(demand)
        per_10k = {d: (info[d].past + given[d]) / 100 * 10_000 / info[d].students for d in applied}
        unmet = [per_10k[d] for d in applied if given[d] < demand[d]]
        new = [d for d in applied if info[d].past == 0]
        return {
            "floor": min(unmet) if unmet else float("nan"),
            "new_share": sum(given[d] for d in new) / max(1, sum(given.values())),
            "new_gini": gini([given[d] for d in new], [info[d].students for d in new]),
            "gini": gini(
                [info[d].past + given[d] for d in applied], [info[d].students for d in applied]
            ),
        }

    fair, base = measures(proposal.allocations), measures(naive)
    tiers = measures(strict_tiers(capacity, districts, applications))
    print(
        f"[fair proposal] {n_applications} pending applications, {n_districts} districts, capacity "
        f"{capacity // 100} of {sum(a.requested for a in applications) // 100} requested"
    )
    print(
        f"  time: water-filling {fair_seconds * 1000:7.1f} ms  |  baseline proportional split "
        f"{naive_seconds * 1000:6.2f} ms  |  ratio {fair_seconds / naive_seconds:6.1f}x slower"
    )
    print(
        f"  max-min floor (lowest per-10k-student total among districts left short; higher is "
        f"fairer): water-filling {fair['floor']:.3f}  |  baseline proportional {base['floor']:.3f}  |  "
        f"ratio {fair['floor'] / base['floor']:.2f}x  |  strict new-first tiers {tiers['floor']:.3f}"
    )
    print(
        f"  weighted Gini of per-student totals incl. past (lower is fairer): water-filling "
        f"{fair['gini']:.3f}  |  baseline proportional {base['gini']:.3f}  |  "
        f"ratio {fair['gini'] / base['gini']:.2f}  |  strict new-first tiers {tiers['gini']:.3f}"
    )
    print(
        f"  weighted Gini among districts with no allocation yet: water-filling {fair['new_gini']:.3f}"
        f"  |  proportional {base['new_gini']:.3f}  |  strict tiers {tiers['new_gini']:.3f}"
    )
    print(
        f"  share of capacity to districts with no allocation yet: water-filling "
        f"{fair['new_share']:.1%}  |  proportional {base['new_share']:.1%}  |  strict tiers {tiers['new_share']:.1%}"
    )
    assert sum(proposal.allocations.values()) <= capacity


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--approvals", type=int, default=200, help="approvals per run (default 200)"
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument(
        "--applications", type=int, default=1000, help="pending applications (default 1000)"
    )
    parser.add_argument("--districts", type=int, default=100, help="districts (default 100)")
    parser.add_argument("--no-http", action="store_true", help="skip the approval throughput runs")
    args = parser.parse_args()

    bench_fair_proposal(args.applications, args.districts)
    if args.no_http:
        return
    with tempfile.TemporaryDirectory() as tmp:
        bench_approvals(
            "SQLite", f"sqlite:///{tmp}/bench.db", Path(tmp), args.approvals, args.clients
        )
        admin_url = os.environ.get("HEART_TEST_PG_URL")
        if admin_url:
            url, drop = _pg_database(admin_url)
            try:
                bench_approvals("PostgreSQL", url, Path(tmp), args.approvals, args.clients)
            finally:
                drop()
        else:
            print("[PostgreSQL] skipped: set HEART_TEST_PG_URL to measure it")


if __name__ == "__main__":
    main()
