"""The hub's own index path at scale, end to end, as an operator runs it.

    python benchmarks/index_scale.py --sizes 10000                       # quick look
    python benchmarks/index_scale.py --sizes 100000 --es-url http://127.0.0.1:9250

For each size, in a fresh data dir (SQLite):
1. `heart init`, then `heart import experts` of N experts (the dev experts varied as
   benchmarks/search.py varies them, written in the import format);
2. `heart index` on that fresh import — the full build: need model trained on the directory,
   weights calibrated, every bio encoded, the embedded index written;
3. search through `SearchService.search` exactly as the web app calls it (need reading, name
   look-up, retrieval, fusion, snippets), on the dev queries (bare needs) and on wrapped
   messages (benchmarks/wrapped_needs.py), single client: p50/p95 per query;
4. a change to `--change` of the profiles (`heart import experts` of edited bios), then
   `heart index` (the outbox drain, re-encoding through the embedding cache) and
   `heart index --rebuild` (model retrained, every text asked of the warm cache);
5. with `--es-url`: the same service on Elasticsearch (`heart index --rebuild` writes ES and
   the embedded fallback), then its queries.

Every CLI step runs as a child process; its wall time, CPU time (user + system) and peak RSS
come from wait4. Baselines, measured in the same run: the full build is compared with the
encoding the issue measured (the fp32 Chinese model, one thread, no cache, file order: a
sample of `--baseline-docs` bios, extrapolated to N); the rebuild after a change with the full build; the hybrid query
with the lexical stage alone (the backend's BM25 retrieval of the same query). The fresh
`heart index` and the later `--rebuild` are compared by the overlap of their top 10s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.search import DEV, CorpusMaker, load_jsonl, loadavg, vocabulary  # noqa: E402
from benchmarks.search_quality import load_qrels  # noqa: E402
from benchmarks.wrapped_needs import wrap_queries  # noqa: E402

EDIT = "近年也承担家校沟通方面的培训，并为新入职的心理教师提供个案督导。"
TOP = 10


def run_step(label: str, args: list[str], env: dict[str, str]) -> dict:
    """Run `heart <args>` as a child; wall, CPU and peak RSS from wait4."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = child.stdout.read() if child.stdout else b""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    text = out.decode("utf-8", "replace")
    if child.returncode != 0:
        raise SystemExit(f"{label}: heart {' '.join(args)} exited {child.returncode}\n{text}")
    step = {
        "step": label,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "output": text.strip().splitlines()[-1:] if text.strip() else [],
    }
    print(
        f"  {label:<34} {wall:8.1f} s wall {step['cpu_s']:8.1f} s CPU "
        f"{step['peak_rss_mb']:7.0f} MB peak   {' '.join(step['output'])[:90]}",
        flush=True,
    )
    return step


def write_experts(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            record = {k: v for k, v in r.items() if k != "sentences"}
            record["bio"] = "。".join(r["sentences"]) + "。"
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def time_searches(env: dict[str, str], queries: list[str], warmup: int) -> dict:
    """`_time_searches` in a fresh interpreter (spawned, not forked: the children's peak RSS
    then counts only their own memory, and this one's stays small)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_time_searches, (env, queries, warmup))


def _time_searches(env: dict[str, str], queries: list[str], warmup: int) -> dict:
    """The web app's search call, one query at a time; lexical-only retrieval as the baseline;
    the process's peak RSS (a server holding the index)."""
    os.environ.update(env)
    from marketplace.db import make_engine  # noqa: PLC0415
    from marketplace.settings import Settings  # noqa: PLC0415
    from search.base import Filters  # noqa: PLC0415
    from search.service import SearchRequest, SearchService  # noqa: PLC0415

    settings = Settings()
    engine = make_engine(settings)
    service = SearchService(settings=settings, engine=engine)
    try:
        for q in queries[:warmup]:
            service.search(SearchRequest(q=q))
        hybrid, tops = [], []
        for q in queries:
            t = time.perf_counter()
            response = service.search(SearchRequest(q=q))
            hybrid.append((time.perf_counter() - t) * 1000)
            tops.append([h.id for h in response.hits[:TOP]])
        lexical = []
        backend = service.backend
        for q in queries:
            t = time.perf_counter()
            tokens = service.analyzer.query_tokens(q)
            backend.retrieve(
                tokens=list(dict.fromkeys(tokens)),
                specialty_weights={},
                vector=None,
                filters=Filters.of(),
                size=200,
            )
            lexical.append((time.perf_counter() - t) * 1000)
        return {
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "backend": service.backend.name,
            "p50_ms": statistics.median(hybrid),
            "p95_ms": percentile(hybrid, 0.95),
            "lexical_p50_ms": statistics.median(lexical),
            "tops": tops,
        }
    finally:
        engine.dispose()


def search_rows(env: dict[str, str], queries: dict, warmup: int, *, prefix: str) -> dict:
    """`time_searches` of each kind of query, printed, as `{prefix}query_{kind}` entries."""
    rows = {}
    for kind, texts in queries.items():
        timed = rows[f"{prefix}query_{kind}"] = time_searches(env, texts, warmup)
        label = f"{'ES ' if prefix else ''}search {kind}"
        print(
            f"  {label:<34} p50 {timed['p50_ms']:6.1f} ms  p95 {timed['p95_ms']:6.1f} ms  "
            f"(lexical stage alone p50 {timed['lexical_p50_ms']:5.1f} ms; searching process "
            f"peak RSS {timed['peak_rss_mb']:.0f} MB)",
            flush=True,
        )
    return rows


def baseline_encoding(records: list[dict], model: str, n: int) -> float:
    """Docs per second of the issue's starting point: the fp32 Chinese model on one ONNX
    thread, no cache, file order."""
    from search.encoder import OnnxEncoder, load_encoder  # noqa: PLC0415

    encoder = load_encoder(model)
    if encoder is None:
        return float("nan")
    if isinstance(encoder, OnnxEncoder):
        encoder.batch_threads = 1
    texts = ["。".join(r["sentences"]) for r in records[:n]]
    t = time.perf_counter()
    for i in range(0, len(texts), 32):
        encoder.encode(texts[i : i + 32])
    return len(texts) / (time.perf_counter() - t)


def overlap(a: list[list[str]], b: list[list[str]]) -> float:
    shared = [len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(a, b, strict=True)]
    return sum(shared) / max(len(shared), 1)


def bench_size(size: int, args: argparse.Namespace, maker: CorpusMaker, queries: dict) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix=f"heart-scale-{size}-", dir=args.scratch))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "HEART_ENVIRONMENT": "development",
        "HEART_SECRET_KEY": secrets.token_urlsafe(48),
        "HEART_DATA_DIR": str(scratch / "data"),
        "HEART_DATABASE_URL": f"sqlite:///{scratch / 'heart.db'}",
        "HEART_EMBED_MODEL": args.encode,
        "HEART_SEARCH_DRAIN_SECONDS": "0",
    }
    print(f"\n## {size:,} experts (encoder setting {args.encode}; scratch {scratch})", flush=True)
    result: dict = {"size": size, "steps": {}}
    try:
        rng = random.Random(args.seed)
        records = [maker.record(i, rng) for i in range(size)]
        write_experts(scratch / "experts.jsonl", records)
        changed = random.Random(size).sample(range(size), max(1, int(size * args.change)))
        edited = [
            {**records[i], "sentences": [*records[i]["sentences"], EDIT.rstrip("。")]}
            for i in changed
        ]
        write_experts(scratch / "changed.jsonl", edited)
        steps = result["steps"]
        steps["init"] = run_step("heart init", ["init"], env)
        steps["import"] = run_step(
            "heart import experts", ["import", "experts", str(scratch / "experts.jsonl")], env
        )
        steps["index"] = run_step("heart index (fresh import)", ["index"], env)
        status = run_step("heart index --status", ["index", "--status", "--json"], env)
        result["status"] = json.loads(status["output"][0]) if status["output"] else {}
        result.update(search_rows(env, queries, args.warmup, prefix=""))
        steps["import_change"] = run_step(
            f"heart import ({len(changed)} edited)",
            ["import", "experts", str(scratch / "changed.jsonl")],
            env,
        )
        steps["drain"] = run_step("heart index (after the change)", ["index"], env)
        steps["rebuild"] = run_step("heart index --rebuild", ["index", "--rebuild"], env)
        after = time_searches(env, queries["bare"], args.warmup)
        result["fresh_vs_rebuild_top10"] = overlap(result["query_bare"]["tops"], after["tops"])
        if args.es_url:
            es_env = {
                **env,
                "HEART_SEARCH_BACKEND": "elasticsearch",
                "HEART_ELASTICSEARCH_URL": args.es_url,
                "HEART_ELASTICSEARCH_INDEX": f"heart_scale_{size}",
            }
            steps["es_rebuild"] = run_step(
                "heart index --rebuild (ES)", ["index", "--rebuild"], es_env
            )
            result.update(search_rows(es_env, queries, args.warmup, prefix="es_"))
            drop_es(args.es_url, f"heart_scale_{size}")
        if args.baseline_docs:
            from search.encoder import CHINESE_MODEL  # noqa: PLC0415

            rate = baseline_encoding(records, CHINESE_MODEL, args.baseline_docs)
            result["baseline_docs_per_s"] = rate
        return result
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def drop_es(url: str, prefix: str) -> None:
    """Remove the run's indices (the service names them from HEART_ELASTICSEARCH_INDEX)."""
    from elasticsearch import Elasticsearch  # noqa: PLC0415

    client = Elasticsearch(url)
    try:
        for name in client.indices.get(index=f"{prefix}*").body:
            client.indices.delete(index=name)
    finally:
        client.close()


def print_summary(results: list[dict]) -> None:
    print("\n## Summary (targets of issue 14 at 100,000 experts)")
    for r in results:
        s, n = r["steps"], r["size"]
        build = s["index"]["wall_s"]
        print(f"\n### {n:,} experts")
        print(
            f"- full build (`heart index` on a fresh import): {build / 60:.1f} min wall, "
            f"{s['index']['cpu_s'] / 60:.1f} CPU-min, peak RSS {s['index']['peak_rss_mb']:.0f} MB "
            "(target ≤ 15 min at 100k)"
        )
        rate = r.get("baseline_docs_per_s")
        if rate:
            base = n / rate
            print(
                f"  - baseline (fp32 bge-small-zh, one thread, no cache, {rate:.1f} bios/s "
                f"extrapolated): {base / 60:.1f} min → {base / build:.1f}× faster"
            )
        print(
            f"- import of {n:,} experts: {s['import']['wall_s'] / 60:.1f} min wall "
            "(not part of the build target)"
        )
        for key, label in (("drain", "`heart index` after the change"), ("rebuild", "`--rebuild`")):
            print(
                f"- {label}: {s[key]['wall_s']:.1f} s wall, {s[key]['cpu_s']:.1f} CPU-s "
                f"({s[key]['wall_s'] / build:.1%} of the full build; target ≤ 60 s)"
            )
        for prefix, name in (("", "embedded"), ("es_", "Elasticsearch")):
            for kind in ("bare", "wrapped"):
                q = r.get(f"{prefix}query_{kind}")
                if q:
                    print(
                        f"- {name} search, {kind}: p50 {q['p50_ms']:.1f} ms, p95 "
                        f"{q['p95_ms']:.1f} ms; ×{q['p50_ms'] / q['lexical_p50_ms']:.1f} the "
                        "lexical stage alone (target p50 ≤ 25 ms)"
                    )
        if "es_rebuild" in s:
            print(f"- ES `--rebuild` (ES + embedded fallback): {s['es_rebuild']['wall_s']:.1f} s")
        print(
            f"- fresh `heart index` vs later `--rebuild`: top-10 overlap "
            f"{r['fresh_vs_rebuild_top10']:.1%} on the bare dev queries"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="directory sizes, comma-separated")
    parser.add_argument("--encode", default="auto", help="HEART_EMBED_MODEL for the run")
    parser.add_argument("--change", type=float, default=0.01, help="share of profiles edited")
    parser.add_argument("--queries", type=int, default=200, help="timed queries of each kind")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--baseline-docs", type=int, default=500)
    parser.add_argument("--es-url", default=None)
    parser.add_argument("--scratch", default=None, help="where the data dirs go")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    print(f"# load average at start: {loadavg()}", flush=True)
    experts = load_jsonl(DEV / "experts.jsonl")
    names, synonyms, domains = vocabulary()
    from search.analysis import ChineseAnalyzer  # noqa: PLC0415

    maker = CorpusMaker(experts, ChineseAnalyzer(names, synonyms=synonyms), domains)
    dev = {q["id"]: q["text"] for q in load_jsonl(DEV / "queries.jsonl")}
    qrels = load_qrels(DEV / "qrels.tsv")
    bare = list(dev.values())
    wrapped = list(wrap_queries(dev, qrels, seed=args.seed)[0].values())
    queries = {
        "bare": (bare * (args.queries // len(bare) + 1))[: args.queries],
        "wrapped": (wrapped * (args.queries // len(wrapped) + 1))[: args.queries],
    }
    results = [bench_size(int(n), args, maker, queries) for n in args.sizes.split(",") if n]
    print_summary(results)
    print(f"\n# load average at end: {loadavg()}")
    if args.json:
        for r in results:
            for key in list(r):
                if key.startswith(("query_", "es_query_")):
                    r[key].pop("tops", None)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
