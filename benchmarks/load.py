"""Load benchmark: `heart serve` on the demo data, driven over loopback by N concurrent users.

Each backend gets a fresh demo database (`heart demo --no-serve`, which builds the index), 20
demo experts get weekly hours, and `heart serve` (one uvicorn process unless --workers) answers
a load generator (threads with httpx): search, expert pages, slot queries and bookings, as the
demo district coordinator. Two user models run against the same server, one after the other:

- users: N users, each waiting a uniform think time (--think, default 1-3 s, as locust's
  `between(1, 3)`) after every answer. This is what "N concurrent users" means in load testing.
- saturation: N closed-loop users with no think time, i.e. N requests always in flight. It
  measures capacity; latency then grows as about N / throughput whatever the code does.

Reported per model and endpoint: requests/s, p50/p99 latency, error rate (5xx and transport
errors; a 409 for a slot taken meanwhile is an answer, not an error). Baseline measured in the
same run: GET /api/health (the cheapest request through the same stack); p50 ratios are
printed against it. Goal: zero errors; search p99 <= 300 ms (for the users model).

    python benchmarks/load.py                         # 50 users x 60 s per model on SQLite
                                                      # (+ PostgreSQL with HEART_TEST_PG_URL)
    python benchmarks/load.py --users 10 --seconds 15 --backends sqlite --models users
    python benchmarks/load.py --workers 2             # `heart serve --workers 2`
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
QUERIES = [
    "学生自伤危机干预",
    "考试焦虑团体辅导",
    "家庭教育指导",
    "校园欺凌事件处理",
    "抑郁情绪筛查",
    "教师心理督导",
    "青春期情绪管理",
    "厌学不上学",
    "网络成瘾",
    "生涯规划",
    "沙盘游戏治疗",
    "留守儿童心理支持",
    "自杀风险评估",
    "亲子沟通",
    "注意力缺陷多动",
]
# Share of each kind of request in the mix (weights).
MIX = {"search": 4, "expert_page": 2, "expert_api": 2, "slots": 3, "booking": 1, "health": 1}
WORKDAY = {
    "timezone": "Asia/Shanghai",
    "weekly": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)],
    "min_notice_minutes": 60,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heart(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env, check=True, **kwargs
    )


def fresh_pg_database(admin_url: str, prefix: str) -> tuple[str, callable]:  # type: ignore[valid-type]
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
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


class Server:
    """The demo database built and `heart serve` running on a free loopback port."""

    def __init__(
        self,
        backend: str,
        workdir: Path,
        pg_admin: str | None,
        rebuild_index: bool = False,
        workers: int = 1,
        pg_prefix: str = "heart_load",
    ) -> None:
        self.backend = backend
        self.rebuild_index = rebuild_index
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.drop = None
        self.env = {
            **os.environ,
            "HEART_ENVIRONMENT": "production",
            "HEART_SECRET_KEY": secrets.token_urlsafe(48),
            "HEART_DATA_DIR": str(workdir),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        if backend == "postgresql":
            assert pg_admin, "PostgreSQL needs HEART_TEST_PG_URL"
            self.env["HEART_DATABASE_URL"], self.drop = fresh_pg_database(pg_admin, pg_prefix)
        self.process: subprocess.Popen | None = None

    def build(self) -> None:
        started = time.monotonic()
        heart(self.env, "demo", "--no-serve", stdout=subprocess.DEVNULL)
        # `heart demo` keeps its files under DATA_DIR/demo: serve and index from there.
        self.env["HEART_DATA_DIR"] = str(Path(self.env["HEART_DATA_DIR"]) / "demo")
        if self.rebuild_index:  # `heart demo` already builds it; this measures a second build
            heart(
                self.env, "index", "--rebuild", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        print(f"  built the demo database and index in {time.monotonic() - started:.0f} s")

    def start(self) -> None:
        log = open(Path(self.env["HEART_DATA_DIR"]) / "serve.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"heart serve did not become ready (see {log.name})")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.drop is not None:
            self.drop()


def token(url: str, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/auth/token",
        data={"username": username, "password": "heart-demo-2026"},
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def prepare(url: str) -> tuple[dict[str, str], list[str], list[tuple[str, str, str]]]:
    """District headers, all expert ids, and (id, kind, format) of experts given weekly hours."""
    staff = token(url, "staff")
    district = token(url, "beilin")
    ids: list[str] = []
    page = 1
    while True:
        body = httpx.get(
            f"{url}/api/experts", params={"page": page, "page_size": 100}, headers=staff, timeout=30
        ).json()
        ids += [e["id"] for e in body["items"]]
        if len(ids) >= body["total"] or not body["items"]:
            break
        page += 1
    bookable = []
    for expert_id in ids:
        expert = httpx.get(f"{url}/api/experts/{expert_id}", headers=staff, timeout=30).json()
        kinds = [k for k in ("consultation", "supervision") if k in expert["service_types"]]
        if kinds and expert.get("monthly_capacity_hours", 0) >= 10:
            bookable.append((expert_id, kinds[0], expert["formats"][0]))
        if len(bookable) == 20:
            break
    for expert_id, _, _ in bookable:
        httpx.put(
            f"{url}/api/experts/{expert_id}/availability", json=WORKDAY, headers=staff, timeout=30
        ).raise_for_status()
    return district, ids, bookable


def next_weekdays(count: int) -> list[date]:
    day = datetime.now(SHANGHAI).date() + timedelta(days=2)
    days = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, name: str, seconds: float, status: int | None) -> None:
        with self.lock:
            self.latencies[name].append(seconds)
            if status is None or status >= 500:
                self.errors[name] += 1
            self.statuses[name][status or 0] += 1


def user_loop(
    url: str,
    headers: dict[str, str],
    experts: list[str],
    bookable: list[tuple[str, str, str]],
    days: list[date],
    deadline: float,
    recorder: Recorder,
    seed: int,
    think: tuple[float, float] | None = None,
) -> None:
    rng = random.Random(seed)
    kinds, weights = zip(*MIX.items(), strict=True)
    if think:  # users arrive spread over one think time, not all in the same instant
        time.sleep(rng.uniform(0, think[1]))
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            if kind == "search":
                request = ("GET", "/api/search", {"params": {"q": rng.choice(QUERIES)}})
            elif kind == "expert_page":
                request = ("GET", f"/experts/{rng.choice(experts)}", {})
            elif kind == "expert_api":
                request = ("GET", f"/api/experts/{rng.choice(experts)}", {})
            elif kind == "slots":
                day = rng.choice(days)
                request = (
                    "GET",
                    f"/api/experts/{rng.choice(bookable)[0]}/slots",
                    {
                        "params": {
                            "start": day.isoformat(),
                            "end": (day + timedelta(days=6)).isoformat(),
                        }
                    },
                )
            elif kind == "booking":
                day, hour = rng.choice(days), rng.randrange(9, 16)
                expert_id, booking_kind, booking_format = rng.choice(bookable)
                start = datetime.combine(day, dtime(hour), tzinfo=SHANGHAI)
                request = (
                    "POST",
                    "/api/bookings",
                    {
                        "json": {
                            "expert_id": expert_id,
                            "start": start.isoformat(),
                            "end": (start + timedelta(hours=1)).isoformat(),
                            "kind": booking_kind,
                            "format": booking_format,
                            "title": "压测预约",
                        }
                    },
                )
            else:
                request = ("GET", "/api/health", {})
            method, path, kwargs = request
            started = time.perf_counter()
            try:
                status: int | None = client.request(method, path, **kwargs).status_code
            except httpx.HTTPError:
                status = None
            recorder.add(kind, time.perf_counter() - started, status)
            if think:
                time.sleep(min(rng.uniform(*think), max(0.0, deadline - time.monotonic())))


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        todo += [int(c) for c in children]
    return total / 1024


class Sampler(threading.Thread):
    """Every 0.5 s during a run: the server's memory, its PostgreSQL connections, and a health
    probe of its own (5 s timeout), so that "health keeps answering" is measured apart from the
    mix."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop_event = threading.Event()
        self.rss: list[float] = []
        self.connections: list[int] = []
        self.health: list[float] = []
        self.health_failures = 0

    def run(self) -> None:
        engine = None
        if self.server.backend == "postgresql":
            from sqlalchemy import create_engine

            url = self.server.env["HEART_DATABASE_URL"]
            engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            while not self.stop_event.wait(0.5):
                assert self.server.process is not None
                self.rss.append(tree_rss_mb(self.server.process.pid))
                if engine is not None:
                    self.connections.append(self._connections(engine))
                started = time.perf_counter()
                try:
                    ok = httpx.get(f"{self.server.url}/api/health", timeout=5).status_code < 500
                except httpx.HTTPError:
                    ok = False
                self.health.append(time.perf_counter() - started)
                self.health_failures += not ok
        finally:
            if engine is not None:
                engine.dispose()

    def _connections(self, engine) -> int:  # type: ignore[no-untyped-def]
        from sqlalchemy import text

        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )

    def report(self) -> None:
        if not self.rss:
            return
        line = (
            f"  server memory (all processes) {self.rss[0]:.0f} MB at start, "
            f"max {max(self.rss):.0f} MB, {self.rss[-1]:.0f} MB at end"
        )
        if self.connections:
            line += f"; PostgreSQL connections max {max(self.connections)}"
        print(line)
        print(
            f"  health probe every 0.5 s: {len(self.health)} probes, "
            f"{self.health_failures} failed or 5xx, max {max(self.health) * 1000:.0f} ms"
        )


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


MODELS = ("users", "saturation")


def run(
    backend: str,
    users: int,
    seconds: float,
    pg_admin: str | None,
    rebuild_index: bool,
    models: list[str],
    think: tuple[float, float],
    workers: int,
    pg_prefix: str = "heart_load",
) -> None:
    print(
        f"\n== {backend}: `heart serve --workers {workers}`, {users} users x {seconds:.0f} s per model"
    )
    with tempfile.TemporaryDirectory(prefix=f"heart-load-{backend}-") as workdir:
        server = Server(backend, Path(workdir), pg_admin, rebuild_index, workers, pg_prefix)
        errors = 0
        try:
            server.build()
            server.start()
            headers, experts, bookable = prepare(server.url)
            days = next_weekdays(30)
            # Warm-up (not measured): the first searches in a process load jieba, the need
            # model and the index (about a second). Several users for 5 s, so that every
            # worker process has answered searches before the measured runs.
            warm_until = time.monotonic() + 5
            warm = [
                threading.Thread(
                    target=user_loop,
                    args=(server.url, headers, experts, bookable, days, warm_until, Recorder(), -n),
                )
                for n in range(1, 4 * workers + 1)
            ]
            for thread in warm:
                thread.start()
            for thread in warm:
                thread.join()
            for model in models:
                recorder = Recorder()
                pause = think if model == "users" else None
                deadline = time.monotonic() + seconds
                threads = [
                    threading.Thread(
                        target=user_loop,
                        args=(
                            server.url,
                            headers,
                            experts,
                            bookable,
                            days,
                            deadline,
                            recorder,
                            n,
                            pause,
                        ),
                        daemon=True,
                    )
                    for n in range(users)
                ]
                load_before = os.getloadavg()[0]
                sampler = Sampler(server)
                sampler.start()
                started = time.monotonic()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.monotonic() - started
                sampler.stop_event.set()
                sampler.join()
                if model == "users":
                    title = f"users: {users} users, think time {think[0]:g}-{think[1]:g} s uniform"
                else:
                    title = f"saturation: {users} closed-loop users, no think time"
                print(
                    f"\n  -- {title} (load average {load_before:.2f} before, "
                    f"{os.getloadavg()[0]:.2f} after; {os.cpu_count()} cores)"
                )
                errors += report(recorder, elapsed)
                sampler.report()
        finally:
            server.stop()
            log = Path(server.env["HEART_DATA_DIR"]) / "serve.log"
            if log.exists() and errors:
                lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
                lines = [line for line in lines if "Error" in line or "error" in line]
                print("  server log, error lines (last 15):", *lines[-15:], sep="\n    ")


def report(recorder: Recorder, elapsed: float) -> int:
    """Print the table of one run; returns its error count."""
    baseline = (
        statistics.median(recorder.latencies["health"]) if recorder.latencies["health"] else None
    )
    total = sum(len(v) for v in recorder.latencies.values())
    errors = sum(recorder.errors.values())
    print(
        f"  {'endpoint':<12}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'p50/health':>12}  statuses"
    )
    for name in MIX:
        values = recorder.latencies.get(name, [])
        if not values:
            continue
        p50 = statistics.median(values)
        ratio = f"{p50 / baseline:.1f}x" if baseline else "-"
        statuses = ", ".join(f"{k}:{v}" for k, v in sorted(recorder.statuses[name].items()))
        print(
            f"  {name:<12}{len(values):>9}{len(values) / elapsed:>8.1f}{p50 * 1000:>9.1f}"
            f"{percentile(values, 0.99) * 1000:>9.1f}{recorder.errors[name] / len(values):>8.2%}"
            f"{ratio:>12}  {statuses}"
        )
    print(f"  {'all':<12}{total:>9}{total / elapsed:>8.1f}{'':>18}{errors / max(total, 1):>8.2%}")
    search = recorder.latencies.get("search", [])
    if search:
        p99 = percentile(search, 0.99) * 1000
        verdict = "meets" if p99 <= 300 else "misses"
        print(f"  search p99 {p99:.0f} ms {verdict} the 300 ms goal; errors: {errors}")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--rebuild-index",
        action="store_true",
        help="run `heart index --rebuild` after `heart demo` (which already builds the index)",
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated; postgresql runs only with HEART_TEST_PG_URL",
    )
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help="comma-separated: users (think time between requests), saturation (none)",
    )
    parser.add_argument(
        "--think",
        default="1,3",
        help="think time of the users model: MIN,MAX seconds, uniform (default 1,3)",
    )
    parser.add_argument("--workers", type=int, default=1, help="`heart serve --workers`")
    parser.add_argument(
        "--pg-prefix",
        default="heart_load",
        help="name prefix of the PostgreSQL database created (and dropped) for the run",
    )
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := set(models) - set(MODELS):
        parser.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    low, high = (float(x) for x in args.think.split(","))
    pg_admin = os.environ.get("HEART_TEST_PG_URL")
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "postgresql" and not pg_admin:
            print("\n== postgresql skipped: set HEART_TEST_PG_URL to run it")
            continue
        run(
            backend,
            args.users,
            args.seconds,
            pg_admin,
            args.rebuild_index,
            models,
            (low, high),
            args.workers,
            args.pg_prefix,
        )


if __name__ == "__main__":
    main()
