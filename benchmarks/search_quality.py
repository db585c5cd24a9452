"""Search-quality benchmark: BM25 vs dense vs the learned need model vs fusion.

    python benchmarks/search_quality.py [--experts F --queries F --qrels F] [--no-dense]
                                        [--embed-model auto] [--folds 5] [--seed 0]
                                        [--save-model PATH]

Defaults to ``../shared/eval/dev`` relative to the repository root. Prints one table of
nDCG@10 (gain 2^grade - 1), recall@50 (grade 2) and P@5 (grade 2), each with its ratio to the
BM25 baseline of the same expert pool, under these regimes:

* ``full``: all experts are ranked.
    - "bios only": the need model learns from the directory (bio sentences, titles and
      specialty names) and no labelled query; this is what a new directory gets.
    - "CV k-fold": k folds over queries; each fold's model learns from all bios plus the other
      folds' labelled queries and is evaluated on the held-out fold.
* ``split A->B`` / ``split B->A``: experts are split in two halves; the need model learns from
  the bios of one half (plus, for CV, the queries of the training folds) and ranks only the
  other half's experts with their qrels: nothing can memorise the evaluated experts.

Dense scores use the product's encoder (search.encoder, ``--embed-model``, default ``auto``:
bge-small-zh-v1.5 when scripts/fetch-models installed it, else the offline English
all-MiniLM-L6-v2); the same encoder gives the need model its dense view (search.needs: it is
used only when it reads the texts). ``--no-dense`` (or ``--embed-model none``) skips both, which
is the lexical-only need model.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# first on the path even when PYTHONPATH has it: this folder's search.py must not shadow the
# search package
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.wrapped_needs import (  # noqa: E402
    HARD_STYLES,
    ROUGH_STYLES,
    STYLES,
    keyword_queries,
    wrap_queries,
)
from marketplace.districts.proximity import city_centres, distance_km  # noqa: E402
from search.analysis import ChineseAnalyzer  # noqa: E402
from search.embed_cache import CachedEncoder, EmbeddingCache  # noqa: E402
from search.encoder import MemoEncoder, load_encoder  # noqa: E402
from search.metrics import mean, ndcg_at_k, precision_at_k, recall_at_k  # noqa: E402
from search.needs import (  # noqa: E402
    context_sentences,
    examples_from_experts,
    examples_from_qrels,
    fit_need_model,
    query_specialty_labels,
    wrap_in_context,
)
from search.ranking import (  # noqa: E402
    DEFAULT_WEIGHTS,
    FusionWeights,
    fuse_scores,
    prefer_near,
    rank,
    rrf,
)
from search.tuning import DENSE_WEIGHT_MAX  # noqa: E402

DEV = next(
    (
        p / "shared" / "eval" / "dev"
        for p in ROOT.parents
        if (p / "shared" / "eval" / "dev").is_dir()
    ),
    ROOT.parent / "shared" / "eval" / "dev",
)


# ----------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------
def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out[row["query_id"]][row["expert_id"]] = int(row["grade"])
    return dict(out)


def expert_text(e: dict) -> str:
    return (
        " ".join(e.get("specialties") or ())
        + " "
        + (e.get("title") or "")
        + " "
        + (e.get("bio") or "")
    )


def vocabulary_of(experts: list[dict]) -> list[str]:
    return sorted({s for e in experts for s in e.get("specialties") or ()})


# ----------------------------------------------------------------------------------------
# scorers
# ----------------------------------------------------------------------------------------
class BM25Scorer:
    def __init__(self, experts: list[dict], analyzer: ChineseAnalyzer):
        import bm25s  # noqa: PLC0415

        self.analyzer = analyzer
        self.retriever = bm25s.BM25()
        self.retriever.index(
            [analyzer.tokens(expert_text(e)) for e in experts], show_progress=False
        )
        self.n = len(experts)

    def scores(self, text: str) -> np.ndarray:
        vocab = self.retriever.vocab_dict
        toks = [t for t in self.analyzer.tokens(text) if t in vocab]
        return np.asarray(self.retriever.get_scores(toks)) if toks else np.zeros(self.n)


def dense_scores(experts: list[dict], queries: dict[str, str], encoder) -> dict[str, np.ndarray]:
    de = encoder.encode([expert_text(e) for e in experts])
    qids = list(queries)
    dq = encoder.encode([queries[q] for q in qids])
    sims = dq @ de.T
    return {q: sims[i] for i, q in enumerate(qids)}


# ----------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------
def evaluate(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> tuple:
    qids = [q for q in rankings if any(g > 0 for g in qrels.get(q, {}).values())]
    return (
        mean([ndcg_at_k(rankings[q], qrels[q], 10) for q in qids]),
        mean([recall_at_k(rankings[q], qrels[q], 50) for q in qids]),
        mean([precision_at_k(rankings[q], qrels[q], 5) for q in qids]),
    )


def query_folds(qids: list[str], k: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    order = list(qids)
    rng.shuffle(order)
    return [order[i::k] for i in range(k)]


def need_predictions(
    train_experts: list[dict],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    spec_of: dict[str, list[str]],
    vocab: list[str],
    analyzer: ChineseAnalyzer,
    *,
    folds: list[list[str]],
    timings: list[float],
    synonyms: dict[str, list[str]] | None = None,
    encoder=None,
    wrapped: dict[str, str] | None = None,
    sources: dict[str, list[str]] | None = None,
    fit_options: dict | None = None,
    need_texts: dict[str, dict[str, str]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """{regime: {query id: need distribution}} for "bios only" and "CV k-fold", for the bare
    queries and their wrapped variants (a wrapped text is predicted by the fold model that
    holds out every query it was made from); `need_texts` is filled with {regime: {query id:
    what that model has the lexical stage read (NeedModel.need_text)}}."""
    need_texts = need_texts if need_texts is not None else {}
    wrapped = wrapped or {}
    sources = sources or {}
    options = fit_options or {}
    bio = examples_from_experts(train_experts, vocabulary=vocab)
    cv = f"CV {len(folds)}-fold"
    out: dict[str, dict[str, dict[str, float]]] = {"bios only": {}, cv: {}}
    need_texts.update({"bios only": {}, cv: {}})
    texts = {**queries, **wrapped}
    t = time.perf_counter()
    model = fit_need_model(
        bio, vocabulary=vocab, synonyms=synonyms, analyzer=analyzer, encoder=encoder, **options
    )
    timings.append(time.perf_counter() - t)
    for q, dist in zip(
        texts, model.predict_many(list(texts.values()), top=len(vocab)), strict=True
    ):
        out["bios only"][q] = dist
        need_texts["bios only"][q] = model.need_text(texts[q])
    qids = list(queries)
    for test in folds:
        held = set(test)
        train_q = {q: queries[q] for q in qids if q not in held}
        ex = bio + examples_from_qrels(
            train_q, {q: qrels[q] for q in train_q if q in qrels}, spec_of
        )
        t = time.perf_counter()
        model = fit_need_model(
            ex, vocabulary=vocab, synonyms=synonyms, analyzer=analyzer, encoder=encoder, **options
        )
        timings.append(time.perf_counter() - t)
        test_ids = [q for q in test if q in queries] + [
            w for w, src in sources.items() if w in wrapped and set(src) <= held
        ]
        for q, dist in zip(
            test_ids,
            model.predict_many([texts[q] for q in test_ids], top=len(vocab)),
            strict=True,
        ):
            out[cv][q] = dist
            need_texts[cv][q] = model.need_text(texts[q])
    return out


def run_pool(
    name: str,
    pool: list[dict],
    train_experts: list[dict],
    queries: dict[str, str],
    qrels_all: dict[str, dict[str, int]],
    spec_of_train: dict[str, list[str]],
    vocab: list[str],
    analyzer: ChineseAnalyzer,
    dense: dict[str, np.ndarray] | None,
    args,
    timings: list[float],
) -> list[tuple]:
    ids = [e["id"] for e in pool]
    idset = set(ids)
    wrapped, style_of = args._wrapped, args._style_of
    judged_all = {**qrels_all, **args._wrapped_qrels}
    qrels = {q: {x: g for x, g in j.items() if x in idset} for q, j in judged_all.items()}
    specs = [e.get("specialties") or [] for e in pool]
    bm25 = BM25Scorer(pool, analyzer)
    texts = {**queries, **wrapped}
    lex = lex_message = {q: bm25.scores(t) for q, t in texts.items()}
    rows = []
    sets = {
        "bare": list(queries),
        "wrapped": [q for q in wrapped if style_of[q] in STYLES],
        **{
            style: [q for q in wrapped if style_of[q] == style]
            for style in (*HARD_STYLES, "tuning")
        },
        "rough": [q for q in wrapped if style_of[q] in ROUGH_STYLES],
        "keyword": [q for q in wrapped if style_of[q] == "keyword"],
    }

    def add(method: str, regime: str, scores: dict[str, list[float]] | dict[str, list[str]]):
        rankings = {
            q: (s if s and isinstance(s[0], str) else rank(ids, list(s))) for q, s in scores.items()
        }
        for label, members in sets.items():
            part = {q: rankings[q] for q in members if q in rankings}
            if part:
                rows.append((name, method, regime, label, *evaluate(part, qrels)))
        for style in STYLES + HARD_STYLES + ROUGH_STYLES:
            part = {q: r for q, r in rankings.items() if style_of.get(q) == style}
            if part:
                args._by_style[(name, method, regime, style)] = evaluate(part, qrels)[0]

    add("BM25 (jieba+vocab) [baseline]", "-", {q: list(v) for q, v in lex.items()})
    dense_pool = None
    if dense is not None:
        pos = {e["id"]: i for i, e in enumerate(args._all_experts)}
        sel = np.array([pos[x] for x in ids])
        dense_pool = {q: v[sel] for q, v in dense.items()}
        add(f"dense {args._encoder.name}", "-", {q: list(v) for q, v in dense_pool.items()})
        fused_rrf = {}
        for q in texts:
            rr = rrf([rank(ids, list(lex[q])), rank(ids, list(dense_pool[q]))])
            fused_rrf[q] = sorted(rr, key=lambda x: -rr[x])
        add("naive RRF(BM25, dense)", "-", fused_rrf)
    need_texts: dict[str, dict[str, str]] = {}
    preds = need_predictions(
        train_experts,
        queries,
        qrels_all,
        spec_of_train,
        vocab,
        analyzer,
        folds=args._folds,
        timings=timings,
        synonyms=args._synonyms,
        encoder=args._encoder,
        wrapped=wrapped,
        sources=args._sources,
        fit_options=args._fit_options,
        need_texts=need_texts,
    )
    need_only = FusionWeights(lexical=0.0, dense=0.0)
    for regime, dist in preds.items():
        # the product's lexical stage reads the extracted need (search.service); with
        # --lexical-message it reads the whole message, as before
        if not args.lexical_message:
            lex = {
                q: bm25.scores(need_texts[regime][q]) if need_texts[regime][q] != texts[q] else v
                for q, v in lex_message.items()
            }
            add("BM25 on the extracted need", regime, {q: list(lex[q]) for q in dist})
        if name == "full":
            args._keyword_top1[regime] = keyword_top1(dist, args._keyword_expected, texts)
        if name == "full" and regime.startswith("CV"):
            args._onsite = onsite_table(pool, dist, lex, list(queries), qrels, args.seed)
        if name == "full" and regime.startswith("CV"):
            args._two_needs = two_needs(
                pool, dist, args._sources, style_of, qrels_all, spec_of_train
            )
        add(
            "need model alone",
            regime,
            {q: fuse_scores(specs, dist[q], weights=need_only) for q in dist},
        )
        add(
            f"fused need+BM25 (w_lex={DEFAULT_WEIGHTS.lexical})",
            regime,
            {q: fuse_scores(specs, dist[q], list(lex[q])) for q in dist},
        )
        if dense_pool is not None:
            w = FusionWeights(lexical=DEFAULT_WEIGHTS.lexical, dense=args.dense_weight)
            add(
                f"fused need+BM25+dense (w_dense={args.dense_weight})",
                regime,
                {
                    q: fuse_scores(specs, dist[q], list(lex[q]), list(dense_pool[q]), weights=w)
                    for q in dist
                },
            )
    return rows


def onsite_table(pool, dist, lex, qids, qrels, seed) -> list[str]:  # type: ignore[no-untyped-def]
    """The bare needs searched on site from a school city drawn per need: nDCG@10 of the
    fused need+BM25 ranking, the share of its top 10 in the school's city and their mean
    distance (km), for several weights of search.ranking.prefer_near (0: no preference)."""
    rng = np.random.default_rng(seed)
    cities = sorted(city_centres())
    school = {q: cities[int(rng.integers(len(cities)))] for q in qids}
    ids = [e["id"] for e in pool]
    specs = [e.get("specialties") or [] for e in pool]
    where = [(e.get("region") or {}).get("city") for e in pool]
    # as search.service does: an online-only expert is no nearer for a visit
    near = [
        c if "onsite" in (e.get("formats") or ()) else None
        for c, e in zip(where, pool, strict=True)
    ]
    lines = []
    for w in (0.0, 0.1, 0.2, 0.3, 0.5):
        ndcg, same, km = [], [], []
        for q in qids:
            if q not in dist or not any(g > 0 for g in qrels.get(q, {}).values()):
                continue
            fused = prefer_near(fuse_scores(specs, dist[q], list(lex[q])), near, school[q], w)
            top = rank(list(range(len(ids))), fused)[:10]
            ndcg.append(ndcg_at_k([ids[i] for i in top], qrels[q], 10))
            same.append(np.mean([where[i] == school[q] for i in top]))
            km.append(np.mean([distance_km(school[q], where[i]) or 0.0 for i in top]))
        lines.append(
            f"w={w:<4} nDCG@10 {np.mean(ndcg):.3f}  top10 in the city {np.mean(same):.3f}  "
            f"mean distance {np.mean(km):.0f} km"
        )
    return lines


def keyword_top1(dist, expected, texts) -> str:  # type: ignore[no-untyped-def]
    """Of the keyword needs, the share whose likeliest specialty is the one expected first, the
    share whose likeliest is any of the expected ones, and the needs read as something else."""
    named = [(q, next(iter(dist[q]), None)) for q in expected if q in dist]
    if not named:
        return "-"
    first = np.mean([f == expected[q][0] for q, f in named])
    any_ = np.mean([f in expected[q] for q, f in named])
    wrong = "; ".join(f"{texts[q]} -> {f}" for q, f in named if f not in expected[q])
    return f"{first:.3f} first, {any_:.3f} any of the expected ({len(named)} needs); other: {wrong}"


def two_needs(pool, dist, sources, style_of, qrels, spec_of) -> dict:  # type: ignore[no-untyped-def]
    """Narratives name two needs, each with its specialty (query_specialty_labels): of the
    top 10 of the need ranking, the share holding either specialty and the share holding
    both, against the share of the pool holding both; and how often the experts holding both
    lead the experts holding one (mean rank of each group in the top 50)."""
    labels = query_specialty_labels(qrels, spec_of)
    ids = [e["id"] for e in pool]
    specs = [set(e.get("specialties") or ()) for e in pool]
    need_only = FusionWeights(lexical=0.0, dense=0.0)
    either, both, pool_both, both_first, cases = [], [], [], 0, 0
    for wid, (a, b) in ((w, src) for w, src in sources.items() if style_of.get(w) == "narrative"):
        if wid not in dist or not labels.get(a) or not labels.get(b):
            continue
        sa, sb = set(labels[a]), set(labels[b])
        if sa & sb:
            continue
        order = rank(ids, fuse_scores([list(x) for x in specs], dist[wid], weights=need_only))
        held = {x: specs[ids.index(x)] for x in order[:50]}
        top = order[:10]
        either.append(np.mean([bool(held[x] & (sa | sb)) for x in top]))
        both.append(np.mean([bool(held[x] & sa and held[x] & sb) for x in top]))
        pool_both.append(np.mean([bool(s & sa and s & sb) for s in specs]))
        ranks_both = [r for r, x in enumerate(order[:50]) if held[x] & sa and held[x] & sb]
        ranks_one = [
            r for r, x in enumerate(order[:50]) if bool(held[x] & sa) != bool(held[x] & sb)
        ]
        if ranks_both and ranks_one:
            cases += 1
            both_first += np.mean(ranks_both) < np.mean(ranks_one)
    return {
        "narratives": len(either),
        "top10_either": round(float(np.mean(either)), 3),
        "top10_both": round(float(np.mean(both)), 3),
        "pool_both": round(float(np.mean(pool_both)), 3),
        "both_lead_one": f"{both_first}/{cases}",
    }


def drift_table(experts, queries, qrels, vocab, analyzer, synonyms, args) -> int:  # type: ignore[no-untyped-def]
    """How much a need model loses on a directory that changed since it was trained: the
    model learns from the bios of a seeded (1 - share) of the experts (the rest are new to
    it) and ranks the whole pool for the bare needs (lexical view, bios only: the directory is
    the only source that drifts). Sets search.service.DRIFT_THRESHOLD."""
    ids = [e["id"] for e in experts]
    specs = [e.get("specialties") or [] for e in experts]
    need_only = FusionWeights(lexical=0.0, dense=0.0)
    print("# drift: share of experts new to the need model -> nDCG@10 of the need ranking")
    print(f"{'share':>6} {'seed':>4} {'nDCG@10':>8} {'loss':>7}")
    losses: dict[float, list[float]] = defaultdict(list)
    reference = None
    for share in (0.0, 0.1, 0.2, 0.3, 0.5):
        for seed in range(args.drift_seeds if share else 1):
            rng = np.random.default_rng(seed)
            kept = [
                experts[i]
                for i in sorted(rng.permutation(len(experts))[int(share * len(experts)) :])
            ]
            model = fit_need_model(
                examples_from_experts(kept, vocabulary=vocab),
                vocabulary=vocab,
                synonyms=synonyms,
                analyzer=analyzer,
            )
            dists = model.predict_many(list(queries.values()), top=len(vocab))
            rankings = {
                q: rank(ids, fuse_scores(specs, d, weights=need_only))
                for q, d in zip(queries, dists, strict=True)
            }
            figure = evaluate(rankings, qrels)[0]
            reference = figure if reference is None else reference
            losses[share].append(reference - figure)
            print(f"{share:>6.0%} {seed:>4} {figure:>8.3f} {reference - figure:>7.3f}")
    for share, values in losses.items():
        print(f"# share {share:.0%}: mean loss {np.mean(values):.3f} over {len(values)} seeds")
    return 0


def resources_table(experts_path: Path, queries, qrels, embed_model: str) -> int:  # type: ignore[no-untyped-def]
    """Expert ranking through the product's SearchService, with and without the demo library,
    for the shipped need model (labelled needs "builtin") and the bios-only one ("none")."""
    for training_needs in ("builtin", "none"):
        _resources_run(experts_path, queries, qrels, embed_model, training_needs)
    return 0


def _resources_run(
    experts_path: Path, queries, qrels, embed_model: str, training_needs: str
) -> None:  # type: ignore[no-untyped-def]
    """Expert ranking through the product's SearchService (embedded index on SQLite), with the
    experts and demo services indexed, then again after the demo library is added and the index
    rebuilt: the baseline is the same service without resources."""
    import tempfile

    from marketplace.accounts.principal import system_principal
    from marketplace.db import make_engine, run_migrations, session_scope
    from marketplace.districts.service import seed_regions
    from marketplace.experts.importing import import_experts
    from marketplace.resources.demo import seed_demo_resources
    from marketplace.resources.files import store_for
    from marketplace.services.demo import seed_demo_services
    from marketplace.settings import Settings
    from marketplace.specialties.service import seed_specialties
    from search.service import SearchRequest, SearchService

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            environment="test",
            secret_key="benchmark-" + "k" * 40,
            data_dir=Path(tmp),
            embed_model=embed_model,
            search_drain_seconds=0,
            search_training_needs=training_needs,
        )
        engine = make_engine(settings)
        run_migrations(engine)
        with session_scope(engine) as session:
            seed_regions(session=session)
            seed_specialties(session=session)
            import_experts(
                session=session,
                lines=experts_path.read_text(encoding="utf-8").splitlines(),
                user=system_principal("benchmark"),
            )
            seed_demo_services(session=session)
        service = SearchService(settings=settings, engine=engine)

        def rankings() -> dict[str, list[str]]:
            return {
                qid: [h.id for h in service.search(SearchRequest(q=text, page_size=50)).hits]
                for qid, text in queries.items()
            }

        started = time.perf_counter()
        service.rebuild()
        before = rankings()
        documents_before = service.backend.count()
        with session_scope(engine) as session:
            seed_demo_resources(
                session=session,
                source=ROOT / "demo" / "resources.jsonl",
                store=store_for(settings.data_dir),
            )
        service.rebuild()
        after = rankings()
        documents_after = service.backend.count()
        engine.dispose()
    base, with_resources = evaluate(before, qrels), evaluate(after, qrels)
    changed_top10 = sum(before[q][:10] != after[q][:10] for q in queries)
    changed_top50 = sum(before[q] != after[q] for q in queries)
    leaked = sum(not h.startswith("D") for q in queries for h in after[q])
    print(
        f"# resources: product SearchService (embedded index, encoder {embed_model}, "
        f"labelled needs {training_needs}), "
        f"{documents_before} -> {documents_after} documents indexed; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print("| expert ranking | nDCG@10 | recall@50 | P@5 |")
    print("|---|---|---|---|")
    print("| without resources (baseline) | {:.4f} | {:.4f} | {:.4f} |".format(*base))
    print(
        "| with the demo library indexed | {:.4f} ({:.4f}x) | {:.4f} ({:.4f}x) | {:.4f} ({:.4f}x) |".format(
            *[
                v
                for pair in zip(
                    with_resources,
                    (a / b if b else 1.0 for a, b in zip(with_resources, base, strict=True)),
                    strict=True,
                )
                for v in pair
            ]
        )
    )
    print(
        f"# queries whose top 10 changed: {changed_top10}/{len(queries)}; top 50: "
        f"{changed_top50}/{len(queries)}; non-expert hits in expert results: {leaked}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--experts", type=Path, default=DEV / "experts.jsonl")
    ap.add_argument("--queries", type=Path, default=DEV / "queries.jsonl")
    ap.add_argument("--qrels", type=Path, default=DEV / "qrels.tsv")
    ap.add_argument(
        "--no-dense", action="store_true", help="no encoder: lexical need model, no dense rows"
    )
    ap.add_argument(
        "--embed-model", default="auto", help="search.encoder model setting (default auto)"
    )
    ap.add_argument(
        "--dense-weight",
        type=float,
        default=DENSE_WEIGHT_MAX,
        help="dense fusion weight (default: what a dense signal as good as BM25 earns)",
    )
    ap.add_argument(
        "--embed-cache",
        type=Path,
        help="embedding cache file (search.embed_cache) kept between runs; default: per run",
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-split", action="store_true", help="skip the expert-split regimes")
    ap.add_argument(
        "--no-extraction",
        action="store_true",
        help="need model without need extraction (no context class, whole text as one need)",
    )
    ap.add_argument(
        "--drift",
        action="store_true",
        help="only the drift table: quality of a need model that has not read part of the directory",
    )
    ap.add_argument("--drift-seeds", type=int, default=3)
    ap.add_argument(
        "--resources",
        action="store_true",
        help="only the resource-library table: expert ranking of the product's search service "
        "over the dev experts, without and with the demo library indexed beside them",
    )
    ap.add_argument(
        "--evidence-power",
        type=float,
        help="need model: weight of a clause's specialty evidence (search.needs.EVIDENCE_POWER)",
    )
    ap.add_argument(
        "--extraction",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="need extraction setting for fit_need_model (context_threshold, need_sharpness, "
        "whole_weight, evidence_power, detector_bios); repeatable",
    )
    ap.add_argument(
        "--tuning-wraps",
        action="store_true",
        help="also a 'tuning' set: every need wrapped in the product's own training sentences "
        "(what need extraction's constants are chosen on)",
    )
    ap.add_argument(
        "--tuning-heldout",
        action="store_true",
        help="with --tuning-wraps: the need models learn context from a seeded half of the "
        "training sentences and the tuning wraps use the other half, so the tuning set's "
        "context is unseen as the evaluation wraps' is (the product trains on all of them)",
    )
    ap.add_argument(
        "--lexical-message",
        action="store_true",
        help="fused rows: BM25 reads the whole message (before need extraction fed it)",
    )
    ap.add_argument("--save-model", type=Path, help="save the bios-only need model (npz)")
    ap.add_argument(
        "--synonyms",
        type=Path,
        help="specialty synonyms, JSON list of {name, synonyms} (e.g. marketplace/data/"
        "specialties.json); used as analyzer user words, as search/service.py does",
    )
    args = ap.parse_args(argv)

    experts = load_jsonl(args.experts)
    queries = {q["id"]: q["text"] for q in load_jsonl(args.queries)}
    qrels = load_qrels(args.qrels)
    vocab = vocabulary_of(experts)
    synonyms = None
    if args.synonyms:
        synonyms = {
            d["name"]: list(d.get("synonyms") or ())
            for d in json.loads(args.synonyms.read_text(encoding="utf-8"))
        }
    analyzer = ChineseAnalyzer(vocab, synonyms=synonyms)
    args._all_experts = experts
    args._synonyms = synonyms
    spec_of = {e["id"]: e.get("specialties") or [] for e in experts}
    print(
        f"# {len(experts)} experts, {len(queries)} queries, {len(vocab)} specialties; "
        f"need-model CV: {args.folds} folds over queries, seed {args.seed}"
    )

    if args.resources:
        return resources_table(
            args.experts, queries, qrels, args.embed_model if not args.no_dense else "none"
        )
    if args.drift:
        return drift_table(experts, queries, qrels, vocab, analyzer, synonyms, args)
    folds = query_folds(list(queries), args.folds, args.seed)
    args._folds = folds
    wrapped, wrapped_qrels, style_of, sources = wrap_queries(
        queries, qrels, seed=args.seed, groups=[set(f) for f in folds]
    )
    # the harder style apart (every need wrapped in it once), so the three keep their figures
    hard = wrap_queries(
        queries, qrels, seed=args.seed, groups=[set(f) for f in folds], styles=HARD_STYLES
    )
    # the ways people type (session 7), apart too: every need in two of them
    rough = wrap_queries(
        queries,
        qrels,
        seed=args.seed,
        groups=[set(f) for f in folds],
        styles=ROUGH_STYLES,
        rounds=2,
    )
    for mine, theirs, rougher in zip(
        (wrapped, wrapped_qrels, style_of, sources), hard, rough, strict=True
    ):
        mine.update(theirs)
        mine.update(rougher)
    # short keyword needs (厌学, 初二学生厌学 ...): never trained on, so every fold model reads them
    kw_texts, kw_qrels, args._keyword_expected = keyword_queries(spec_of)
    for kid, text in kw_texts.items():
        wrapped[kid], wrapped_qrels[kid], style_of[kid], sources[kid] = (
            text,
            kw_qrels[kid],
            "keyword",
            [],
        )
    args._keyword_top1 = {}
    args._wrapped, args._wrapped_qrels = wrapped, wrapped_qrels
    args._style_of, args._sources = style_of, sources
    args._by_style = {}
    args._fit_options = {"extract": False} if args.no_extraction else {}
    if args.evidence_power is not None:
        args._fit_options["evidence_power"] = args.evidence_power
    for setting in args.extraction:
        name, value = setting.split("=")
        args._fit_options[name] = float(value)
    if args.tuning_wraps:
        # needs wrapped by the product's own training sentences (search.needs.wrap_in_context):
        # the set constants of need extraction are chosen on, never the evaluation wraps
        rng = np.random.default_rng(args.seed)
        sentences = context_sentences()
        if args.tuning_heldout:
            order = rng.permutation(len(sentences))
            args._fit_options["context"] = [sentences[i] for i in order[::2]]
            sentences = [sentences[i] for i in order[1::2]]
        for q, text in queries.items():
            wid = f"{q}~tuning"
            wrapped[wid] = wrap_in_context(text, sentences, rng)
            wrapped_qrels[wid], style_of[wid], sources[wid] = dict(qrels.get(q, {})), "tuning", [q]
    print(
        f"# wrapped needs: {len(wrapped)} (benchmarks/wrapped_needs.py, seed {args.seed}: "
        + ", ".join(
            f"{st} {sum(v == st for v in style_of.values())}"
            for st in STYLES + HARD_STYLES + ROUGH_STYLES
        )
        + "); their context sentences are the evaluation generator's own, written apart from "
        "the product's training context (search/data/context_sentences.txt)"
    )
    print(
        "# need extraction: "
        + ("off (--no-extraction: the whole text is one need)" if args.no_extraction else "on")
    )

    dense = None
    args._encoder = None if args.no_dense else load_encoder(args.embed_model)
    if args._encoder is not None:
        # every fit meets the same bio sentences: encode each text once per run
        args._encoder = (
            CachedEncoder(args._encoder, EmbeddingCache(args.embed_cache))
            if args.embed_cache
            else MemoEncoder(args._encoder, limit=100_000)
        )
        t = time.perf_counter()
        dense = dense_scores(experts, {**queries, **wrapped}, args._encoder)
        print(
            f"# encoder {args._encoder.name}: {len(experts) + len(queries) + len(wrapped)} texts "
            f"in {time.perf_counter() - t:.1f} s"
        )

    timings: list[float] = []
    rows = run_pool(
        "full", experts, experts, queries, qrels, spec_of, vocab, analyzer, dense, args, timings
    )
    if not args.no_split:
        rng = np.random.default_rng(args.seed)
        perm = rng.permutation(len(experts))
        half_a = [experts[i] for i in perm[: len(experts) // 2]]
        half_b = [experts[i] for i in perm[len(experts) // 2 :]]
        for name, train, pool in (("split A->B", half_a, half_b), ("split B->A", half_b, half_a)):
            # query labels come from the training half's experts only
            spec_train = {e["id"]: e.get("specialties") or [] for e in train}
            rows += run_pool(
                name, pool, train, queries, qrels, spec_train, vocab, analyzer, dense, args, timings
            )

    base = {(r[0], r[3]): r for r in rows if r[1].endswith("[baseline]")}
    header = (
        f"{'pool':<11} {'method':<42} {'regime':<10} {'needs':<8} {'nDCG@10':>8} {'x':>5} "
        f"{'R@50':>6} {'x':>5} {'P@5':>6} {'x':>5}"
    )
    print(header)
    print("-" * len(header))
    for pool, method, regime, needs, n, r, p in rows:
        b = base[(pool, needs)]
        ratio = lambda v, bv: f"{v / bv:5.2f}" if bv else "  -  "  # noqa: E731
        print(
            f"{pool:<11} {method:<42} {regime:<10} {needs:<8} {n:8.3f} {ratio(n, b[4])} "
            f"{r:6.3f} {ratio(r, b[5])} {p:6.3f} {ratio(p, b[6])}"
        )
    print("# wrapped nDCG@10 by style (full pool):")
    for (pool, method, regime, style), n in args._by_style.items():
        if pool == "full" and ("fused" in method or "baseline" in method):
            print(f"#   {method:<42} {regime:<10} {style:<10} {n:.3f}")
    for regime, figure in args._keyword_top1.items():
        print(f"# keyword needs, likeliest specialty ({regime}): {figure}")
    for line in getattr(args, "_onsite", []):
        print(f"# on-site bare needs (CV, full pool), prefer_near {line}")
    if getattr(args, "_two_needs", None):
        print(f"# two-need narratives (CV need ranking, full pool): {args._two_needs}")
    print(
        f"# need-model training: median {np.median(timings):.2f} s, max {max(timings):.2f} s "
        f"per fit ({len(timings)} fits, 1 BLAS thread)"
    )
    if args.save_model:
        model = fit_need_model(
            examples_from_experts(experts, vocabulary=vocab), vocabulary=vocab, synonyms=synonyms
        )
        model.save(args.save_model)
        print(
            f"# saved bios-only need model to {args.save_model} ({args.save_model.stat().st_size} bytes)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
