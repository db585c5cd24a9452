"""Matching quality on the dev set, against greedy-by-BM25 in file order measured in the same run.

    python benchmarks/matching_quality.py [--dev DIR] [--qrels-model]

Relevance: matching's default (search.needs' text → specialty model trained on the expert texts
only, + BM25), so the figures say what an unseen batch would get; the dev qrels are used only
to grade the result. Baseline: greedy in file order by the BM25 score alone (the README's
reference). Rule violations are checked by an independent re-implementation of the README rules.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.batch import BatchResult, plan_batch  # noqa: E402
from matching.records import (  # noqa: E402
    expert_from_record,
    need_from_line,
    parse_request_lines,
    text_from_record,
    vocabulary,
    zone_map,
)
from matching.relevance import bm25_baseline, default_relevance  # noqa: E402
from matching.scoring import Weights  # noqa: E402

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev"
BM25_ONLY = Weights(relevance=1.0, specialty=0.0, region=0.0, capacity=0.0, continuity=0.0, seniority=0.0)


def violations(result: dict, requests: dict[str, dict], experts: dict[str, dict]) -> list[str]:
    """The README's hard rules, checked on the output JSON alone."""
    out, used = [], defaultdict(int)
    for a in result["assignments"]:
        r = requests[a["request_id"]]
        if len(set(a["expert_ids"])) != len(a["expert_ids"]) or len(a["expert_ids"]) > r["experts_needed"]:
            out.append(f"{a['request_id']}: too many / duplicate experts")
        for e_id in a["expert_ids"]:
            e = experts[e_id]
            if r["service_type"] not in e["service_types"] or r["format"] not in e["formats"]:
                out.append(f"{a['request_id']}/{e_id}: service type or format")
            if r["format"] == "onsite" and (e["region"]["province"], e["region"]["city"]) != (
                r["district"]["province"], r["district"]["city"]
            ):
                out.append(f"{a['request_id']}/{e_id}: onsite outside the city")
            if e_id in r.get("exclude_experts", []):
                out.append(f"{a['request_id']}/{e_id}: excluded")
            used[e_id] += r["hours"]
    out += [f"{e}: {h} h > capacity" for e, h in used.items() if h > experts[e]["monthly_capacity_hours"]]
    return out


def report(name: str, result: BatchResult, seconds: float, ctx: dict) -> dict:
    data = result.to_json()
    grades, by_city = [], defaultdict(list)
    for a in data["assignments"]:
        judged = ctx["qrels"][ctx["query_of"][a["request_id"]]]
        city = ctx["requests"][a["request_id"]]["district"]["city"]
        for e in a["expert_ids"]:
            grades.append(judged.get(e, 0))
            by_city[city].append(judged.get(e, 0))
    slots = sum(r["experts_needed"] for r in ctx["requests"].values())
    seen = {a["request_id"] for a in data["assignments"]} | {u["request_id"] for u in data["unassigned"]}
    city_means = {c: float(np.mean(g)) for c, g in sorted(by_city.items())}
    return {
        "method": name,
        "seconds": round(seconds, 2),
        "rule_violations": len(violations(data, ctx["requests"], ctx["experts"])),
        "requests_missing_from_output": len(set(ctx["requests"]) - seen),
        "mean_grade": round(float(np.mean(grades)), 3) if grades else 0.0,
        "grade2_share": round(float(np.mean(np.array(grades) == 2)), 3) if grades else 0.0,
        "slots_filled": round(len(grades) / slots, 3),
        "min_city_mean_grade": round(min(city_means.values()), 3) if city_means else 0.0,
        "city_mean_grade": {c: round(v, 2) for c, v in city_means.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    args = parser.parse_args()
    records = [json.loads(line) for line in (args.dev / "experts.jsonl").read_text(encoding="utf-8").splitlines()]
    lines = (args.dev / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (args.dev / "qrels.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query_id"]][row["expert_id"]] = int(row["grade"])
    with (args.dev / "requests_qrels_map.tsv").open(encoding="utf-8") as f:
        query_of = {row["request_id"]: row["query_id"] for row in csv.DictReader(f, delimiter="\t")}
    ctx = {
        "qrels": qrels,
        "query_of": query_of,
        "requests": {json.loads(x)["id"]: json.loads(x) for x in lines if x.strip()},
        "experts": {r["id"]: r for r in records},
    }
    zones = zone_map()
    names, synonyms = vocabulary()
    pool = [expert_from_record(r, zones) for r in records]
    texts = [text_from_record(r) for r in records]
    parsed = parse_request_lines(lines)
    needs = [need_from_line(line, zones) for line in parsed.lines]
    ids = [e.id for e in pool]
    rows = []

    start = time.perf_counter()
    baseline = bm25_baseline(texts, vocabulary=names, synonyms=synonyms)
    lexical = baseline.scores([n.text for n in needs], ids)
    result = plan_batch(needs, pool, relevance=lexical, weights=BM25_ONLY, method="greedy")
    rows.append(report("greedy by BM25, file order (baseline)", result, time.perf_counter() - start, ctx))

    start = time.perf_counter()
    relevance = default_relevance(texts, vocabulary=names, synonyms=synonyms)
    scores = relevance.scores([n.text for n in needs], ids)
    weights = relevance.needs([n.text for n in needs]) if relevance.needs else None
    built = time.perf_counter() - start
    for method in ("greedy", "solver"):
        start = time.perf_counter()
        result = plan_batch(needs, pool, relevance=scores, specialty_weights=weights, method=method)
        label = f"{method} on matching affinity ({relevance.name})"
        rows.append(report(label, result, built + time.perf_counter() - start, ctx))

    print(f"dev set: {len(needs)} requests, {len(pool)} experts, {sum(n.experts_needed for n in needs)} slots")
    print(f"{'method':58} {'viol':>4} {'grade':>6} {'g2%':>6} {'filled':>7} {'minCity':>7} {'s':>6}")
    for r in rows:
        print(
            f"{r['method']:58} {r['rule_violations']:>4} {r['mean_grade']:>6.3f} {100 * r['grade2_share']:>5.1f}%"
            f" {100 * r['slots_filled']:>6.1f}% {r['min_city_mean_grade']:>7.2f} {r['seconds']:>6.1f}"
        )
    base, ours = rows[0], rows[-1]
    print(f"mean grade ratio solver / baseline: {ours['mean_grade'] / base['mean_grade']:.2f}x")
    print("per-city mean grade (solver):", json.dumps(ours["city_mean_grade"], ensure_ascii=False))
    print("per-city mean grade (baseline):", json.dumps(base["city_mean_grade"], ensure_ascii=False))


if __name__ == "__main__":
    main()
