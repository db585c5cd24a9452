"""Matching quality on the dev set, against greedy-by-BM25 in file order measured in the same run.

    python benchmarks/matching_quality.py [--dev DIR] [--folds 5] [--seed 0] [--ablations]
                                          [--embed-model auto] [--no-service-prior]

The dev request texts are the dev query texts (requests_qrels_map.tsv), and the product's
builtin labelled needs (search/data/labelled_needs.jsonl) are derived from those queries, so
a need model trained on them has seen the answers. Two honest regimes are reported:

* **bios only**: the need model learns from the expert directory alone (what a hub without
  labelled needs gets);
* **k-fold CV over requests** (the product's training recipe, honestly): requests are split
  into folds *by query id* (several requests share a query); for each fold the need model
  learns from the bios plus the labelled needs of the other folds' queries only (derived from
  qrels exactly like scripts/derive_labelled_needs.py: search.needs.query_specialty_labels),
  and gives that fold's requests their relevance; the service-type prior (matching.priors) is
  counted from the other folds' requests only (`--no-service-prior` leaves it out). The **whole batch is then matched at once**,
  each request with its own fold's relevance: matching fold by fold would let each fold use
  the whole pool's capacity and district mix (a fifth of the real contention), inflating fill
  and grade; one batch keeps the real contention and fairness groups, and still no request is
  scored by a model that saw its text.

Baseline: greedy in file order by the BM25 score alone (the README's reference). Rule
violations are checked by an independent re-implementation of the README rules. The qrels are
used only to grade, and (CV) to label the training folds. `--ablations` re-runs the solver with
the method's earlier choices switched back one at a time (the figures in matching/scoring.py's
Weights docstring).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.wrapped_needs import HARD_STYLES, ROUGH_STYLES, wrap_queries  # noqa: E402
from matching.batch import BatchResult, plan_batch  # noqa: E402
from matching.priors import ServiceTypePrior  # noqa: E402
from matching.records import (  # noqa: E402
    expert_from_record,
    need_from_line,
    parse_request_lines,
    text_from_record,
    vocabulary,
    zone_map,
)
from matching.relevance import bm25_baseline, need_model_relevance  # noqa: E402
from matching.scoring import DEFAULT_WEIGHTS, Weights  # noqa: E402
from search.embed_cache import CachedEncoder, EmbeddingCache  # noqa: E402
from search.encoder import MemoEncoder, load_encoder  # noqa: E402
from search.needs import (  # noqa: E402
    examples_from_experts,
    examples_from_qrels,
    fit_need_model,
    query_specialty_labels,
)

DEV = next(
    (
        p / "shared" / "eval" / "dev"
        for p in Path(__file__).resolve().parents[1].parents
        if (p / "shared" / "eval" / "dev").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev",
)
EXTRACT = [True]  # --no-extraction sets it off (the need model then reads every text whole)
FIT_OPTIONS: dict = {}  # --evidence-power sets search.needs' clause evidence weighting
BM25_ONLY = Weights(
    relevance=1.0, specialty=0.0, region=0.0, capacity=0.0, continuity=0.0, seniority=0.0
)


def violations(result: dict, requests: dict[str, dict], experts: dict[str, dict]) -> list[str]:
    """The README's hard rules, checked on the output JSON alone."""
    out, used = [], defaultdict(int)
    for a in result["assignments"]:
        r = requests[a["request_id"]]
        if (
            len(set(a["expert_ids"])) != len(a["expert_ids"])
            or len(a["expert_ids"]) > r["experts_needed"]
        ):
            out.append(f"{a['request_id']}: too many / duplicate experts")
        for e_id in a["expert_ids"]:
            e = experts[e_id]
            if r["service_type"] not in e["service_types"] or r["format"] not in e["formats"]:
                out.append(f"{a['request_id']}/{e_id}: service type or format")
            if r["format"] == "onsite" and (e["region"]["province"], e["region"]["city"]) != (
                r["district"]["province"],
                r["district"]["city"],
            ):
                out.append(f"{a['request_id']}/{e_id}: onsite outside the city")
            if e_id in r.get("exclude_experts", []):
                out.append(f"{a['request_id']}/{e_id}: excluded")
            used[e_id] += r["hours"]
    out += [
        f"{e}: {h} h > capacity"
        for e, h in used.items()
        if h > experts[e]["monthly_capacity_hours"]
    ]
    return out


def report(name: str, result: BatchResult, seconds: float, ctx: dict) -> dict:
    data = result.to_json()
    grades, by_city, by_style = [], defaultdict(list), defaultdict(list)
    for a in data["assignments"]:
        judged = ctx["qrels"][ctx["query_of"][a["request_id"]]]
        city = ctx["requests"][a["request_id"]]["district"]["city"]
        style = ctx.get("style_of", {}).get(a["request_id"])
        for e in a["expert_ids"]:
            grades.append(judged.get(e, 0))
            by_city[city].append(judged.get(e, 0))
            if style:
                by_style[style].append(judged.get(e, 0))
    slots = sum(r["experts_needed"] for r in ctx["requests"].values())
    seen = {a["request_id"] for a in data["assignments"]} | {
        u["request_id"] for u in data["unassigned"]
    }
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
        "style_grade": {
            st: (round(float(np.mean(g)), 3), round(float(np.mean(np.array(g) == 2)), 3))
            for st, g in sorted(by_style.items())
        },
    }


@dataclass
class Dev:
    records: list[dict]
    lines: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    query_of: dict[str, str]


def load_dev(path: Path) -> Dev:
    records = [
        json.loads(x)
        for x in (path / "experts.jsonl").read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    lines = (path / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    queries = {}
    for x in (path / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if x.strip():
            q = json.loads(x)
            queries[q["id"]] = q["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (path / "qrels.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query_id"]][row["expert_id"]] = int(row["grade"])
    with (path / "requests_qrels_map.tsv").open(encoding="utf-8") as f:
        query_of = {row["request_id"]: row["query_id"] for row in csv.DictReader(f, delimiter="\t")}
    return Dev(records, lines, queries, dict(qrels), query_of)


def query_folds(query_ids: list[str], folds: int, seed: int) -> list[set[str]]:
    """Query ids shuffled (seeded) and dealt into `folds` groups."""
    order = sorted(set(query_ids))
    random.Random(seed).shuffle(order)
    return [set(order[k::folds]) for k in range(folds)]


@dataclass
class Inputs:
    """Per request: the relevance row over the pool and the need distribution."""

    scores: np.ndarray
    needs: list[dict[str, float]]
    name: str


def relevance_inputs(
    dev: Dev, needs, texts, names, synonyms, *, labelled_queries: set[str] | None, encoder=None
) -> Inputs:
    """Relevance from a need model trained on bios (+ labelled needs of `labelled_queries`)."""
    specialties = {r["id"]: r["specialties"] for r in dev.records}
    bios = examples_from_experts(dev.records, vocabulary=names, synonyms=synonyms)
    queries = {q: t for q, t in dev.queries.items() if labelled_queries and q in labelled_queries}
    extra = examples_from_qrels(queries, dev.qrels, specialties) if queries else []
    model = fit_need_model(
        bios + extra,
        vocabulary=names,
        synonyms=synonyms,
        encoder=encoder,
        extract=EXTRACT[0],
        **FIT_OPTIONS,
    )
    relevance = need_model_relevance(
        texts, vocabulary=names, synonyms=synonyms, model=model, encoder=encoder
    )
    request_texts = [n.text for n in needs]
    ids = [t.id for t in texts]
    return Inputs(
        relevance.scores(request_texts, ids), relevance.needs(request_texts), relevance.name
    )


def cross_validated_inputs(
    dev: Dev,
    needs,
    texts,
    names,
    synonyms,
    *,
    folds: int,
    seed: int,
    encoder=None,
    service_prior: bool = True,
) -> Inputs:
    """Each request's relevance from the model of its fold (trained without that fold's queries)."""
    groups = query_folds([dev.query_of[n.id] for n in needs], folds, seed)
    labels = query_specialty_labels(dev.qrels, {r["id"]: r["specialties"] for r in dev.records})
    all_queries = set(dev.queries)
    scores = np.zeros((len(needs), len(texts)), dtype=np.float32)
    dists: list[dict[str, float]] = [{} for _ in needs]
    for held_out in groups:
        rows = [i for i, n in enumerate(needs) if dev.query_of[n.id] in held_out]
        part = relevance_inputs(
            dev,
            [needs[i] for i in rows],
            texts,
            names,
            synonyms,
            labelled_queries=all_queries - held_out,
            encoder=encoder,
        )
        scores[rows] = part.scores
        prior = None
        if service_prior:
            # the service-type prior, counted from the training folds' labelled requests only
            prior = ServiceTypePrior.from_labels(
                [
                    (n.service_type, labels[dev.query_of[n.id]][0])
                    for n in needs
                    if dev.query_of[n.id] not in held_out and labels.get(dev.query_of[n.id])
                ],
                len(names),
            )
        for i, d in zip(rows, part.needs, strict=True):
            dists[i] = prior.apply(d, needs[i].service_type) if prior else d
    return Inputs(scores, dists, f"{folds}-fold CV")


OLD_SHARES = {
    "relevance": 0.05,
    "specialty": 0.75,
    "region": 0.08,
    "capacity": 0.04,
    "continuity": 0.04,
    "seniority": 0.04,
}
ABLATIONS: dict[str, Weights] = {
    # each switches one choice of the current method back to what it replaced (see Weights)
    "raw need mass (no sharpening)": replace(DEFAULT_WEIGHTS, need_power=1.0),
    "no related specialties": replace(DEFAULT_WEIGHTS, related_gain=0.0),
    "preferences at the old shares": replace(DEFAULT_WEIGHTS, **OLD_SHARES),
    "all three (the method before)": replace(
        DEFAULT_WEIGHTS, need_power=1.0, related_gain=0.0, **OLD_SHARES
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ablations", action="store_true", help="also run the solver with earlier choices"
    )
    parser.add_argument(
        "--embed-model",
        default="auto",
        help="encoder for the need model's dense view (search.encoder; none = off)",
    )
    parser.add_argument(
        "--no-service-prior",
        action="store_true",
        help="CV without the service-type prior (matching.priors)",
    )
    parser.add_argument(
        "--needs",
        choices=("bare", "wrapped", "both", "forward", "rough", "all"),
        default="both",
        help="request texts as in the dev set, wrapped in message context (letter, chat, "
        "narrative), both, the harder forwarded WeChat message (benchmarks/wrapped_needs.py "
        "HARD_STYLES), the ways people type (ROUGH_STYLES: phone, voice, typos, questions, "
        "buried, lists, shorthand, traditional characters), or all four sets",
    )
    parser.add_argument(
        "--evidence-power",
        type=float,
        help="need model: weight of a clause's specialty evidence (search.needs.EVIDENCE_POWER)",
    )
    parser.add_argument(
        "--extraction",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="need extraction setting for fit_need_model (context_threshold, need_sharpness, "
        "whole_weight, evidence_power, detector_bios); repeatable",
    )
    parser.add_argument(
        "--embed-cache",
        type=Path,
        help="embedding cache file kept between runs (search.embed_cache)",
    )
    parser.add_argument(
        "--no-extraction",
        action="store_true",
        help="need model without need extraction (every request text read whole)",
    )
    args = parser.parse_args()
    EXTRACT[0] = not args.no_extraction
    if args.evidence_power is not None:
        FIT_OPTIONS["evidence_power"] = args.evidence_power
    for setting in args.extraction:
        name, value = setting.split("=")
        FIT_OPTIONS[name] = float(value)
    print(f"need extraction: {'off' if args.no_extraction else 'on'}")
    encoder = load_encoder(args.embed_model)
    if encoder is not None:
        # every fit meets the same bio sentences: encode each text once (and across runs)
        encoder = (
            CachedEncoder(encoder, EmbeddingCache(args.embed_cache))
            if args.embed_cache
            else MemoEncoder(encoder, limit=100_000)
        )
    print(f"need-model encoder: {encoder.name if encoder else 'none'}")
    dev = load_dev(args.dev)
    ctx = {
        "qrels": dev.qrels,
        "query_of": dev.query_of,
        "requests": {json.loads(x)["id"]: json.loads(x) for x in dev.lines if x.strip()},
        "experts": {r["id"]: r for r in dev.records},
    }
    zones = zone_map()
    names, synonyms = vocabulary()
    pool = [expert_from_record(r, zones) for r in dev.records]
    texts = [text_from_record(r) for r in dev.records]
    bare = [need_from_line(line, zones) for line in parse_request_lines(dev.lines).lines]
    sets = []
    if args.needs in ("bare", "both", "all"):
        sets.append(("bare", bare, ctx))
    wrappings = []
    if args.needs in ("wrapped", "both", "all"):
        wrappings.append(("wrapped", None))
    if args.needs in ("forward", "all"):
        wrappings.append(("forwarded", HARD_STYLES))
    if args.needs in ("rough", "all"):
        wrappings.append(("rough", ROUGH_STYLES))
    for label, styles in wrappings:
        # every request's text wrapped by the evaluation generator (benchmarks/wrapped_needs.py);
        # a narrative's second need comes from the same CV fold, so no model saw either need
        folds = query_folds([dev.query_of[n.id] for n in bare], args.folds, args.seed)
        wrapped, wrapped_qrels, style_of, _ = wrap_queries(
            dev.queries,
            dev.qrels,
            seed=args.seed,
            groups=folds,
            **({"styles": styles} if styles else {}),
        )
        wid_of = {q: w for w in wrapped for q in [w.split("~")[0]]}
        wrapped_needs = [replace(n, text=wrapped[wid_of[dev.query_of[n.id]]]) for n in bare]
        wrapped_ctx = {
            **ctx,
            "qrels": {**dev.qrels, **wrapped_qrels},
            "query_of": {n.id: wid_of[dev.query_of[n.id]] for n in bare},
            "style_of": {n.id: style_of[wid_of[dev.query_of[n.id]]] for n in bare},
        }
        styles = defaultdict(int)
        for n in bare:
            styles[style_of[wid_of[dev.query_of[n.id]]]] += 1
        print(
            f"{label} requests: "
            + ", ".join(f"{k} {v}" for k, v in sorted(styles.items()))
            + " (benchmarks/wrapped_needs.py: the evaluation generator's own context sentences,"
            " written apart from the product's training context)"
        )
        sets.append((label, wrapped_needs, wrapped_ctx))
    for label, needs, set_ctx in sets:
        rows = run_set(dev, needs, pool, texts, names, synonyms, encoder, args, set_ctx)
        print_rows(f"{label} requests", rows, needs, pool)


def run_set(dev, needs, pool, texts, names, synonyms, encoder, args, ctx) -> list[dict]:  # type: ignore[no-untyped-def]
    """The baseline and every regime on one set of requests."""
    ids = [e.id for e in pool]
    rows = []
    start = time.perf_counter()
    lexical = bm25_baseline(texts, vocabulary=names, synonyms=synonyms).scores(
        [n.text for n in needs], ids
    )
    result = plan_batch(needs, pool, relevance=lexical, weights=BM25_ONLY, method="greedy")
    rows.append(
        report("greedy by BM25, file order (baseline)", result, time.perf_counter() - start, ctx)
    )

    prior = not args.no_service_prior
    regimes = [
        (
            "bios only",
            lambda: relevance_inputs(
                dev, needs, texts, names, synonyms, labelled_queries=None, encoder=encoder
            ),
        ),
        (
            f"{args.folds}-fold CV",
            lambda: cross_validated_inputs(
                dev,
                needs,
                texts,
                names,
                synonyms,
                folds=args.folds,
                seed=args.seed,
                encoder=encoder,
                service_prior=prior,
            ),
        ),
    ]
    for regime, build in regimes:
        start = time.perf_counter()
        inputs = build()
        built = time.perf_counter() - start
        variants = [("greedy", DEFAULT_WEIGHTS, ""), ("solver", DEFAULT_WEIGHTS, "")]
        if args.ablations:
            variants += [("solver", w, f" − {label}") for label, w in ABLATIONS.items()]
        for method, weights, note in variants:
            start = time.perf_counter()
            result = plan_batch(
                needs,
                pool,
                relevance=inputs.scores,
                specialty_weights=inputs.needs,
                method=method,
                weights=weights,
            )
            rows.append(
                report(
                    f"{regime}: {method}{note}", result, built + time.perf_counter() - start, ctx
                )
            )
    return rows


def print_rows(title: str, rows: list[dict], needs, pool) -> None:  # type: ignore[no-untyped-def]
    print(
        f"{title}: {len(needs)} requests, {len(pool)} experts, "
        f"{sum(n.experts_needed for n in needs)} slots"
    )
    print(
        f"{'method':58} {'viol':>4} {'grade':>6} {'g2%':>6} {'filled':>7} {'minCity':>7} {'s':>6}"
    )
    for r in rows:
        print(
            f"{r['method']:58} {r['rule_violations']:>4} {r['mean_grade']:>6.3f} {100 * r['grade2_share']:>5.1f}%"
            f" {100 * r['slots_filled']:>6.1f}% {r['min_city_mean_grade']:>7.2f} {r['seconds']:>6.1f}"
        )
    base = rows[0]
    for r in rows[1:]:
        if r["method"].endswith(": solver"):
            print(
                f"mean grade ratio {r['method']} / baseline: {r['mean_grade'] / base['mean_grade']:.2f}x"
            )
            print(f"  per-city: {json.dumps(r['city_mean_grade'], ensure_ascii=False)}")
            if r["style_grade"]:
                print(f"  per-style (mean grade, grade-2 share): {json.dumps(r['style_grade'])}")
    print(f"  per-city (baseline): {json.dumps(base['city_mean_grade'], ensure_ascii=False)}")


if __name__ == "__main__":
    main()
