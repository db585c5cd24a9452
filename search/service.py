"""Search as the hub uses it: analyse the need, retrieve from the backend, fuse, explain.

One SearchService per process (built in the app's lifespan or by a CLI command). The database
is the source of truth; the index and the need model are derived and rebuilt by `rebuild()`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from marketplace import messages
from marketplace.clock import utcnow
from marketplace.errors import Unavailable
from marketplace.experts.models import Expert, ExpertSpecialty
from marketplace.experts.service import need_model_records
from marketplace.outbox.models import IndexOutbox
from marketplace.settings import Settings
from marketplace.specialties.models import Specialty
from search import floor, lookup, ranking, tuning
from search.analysis import ChineseAnalyzer
from search.base import FACET_FIELDS, Candidate, Filters, SearchBackend
from search.concurrency import query_pool
from search.embed_cache import CachedEncoder, EmbeddingCache, TokenCache
from search.encoder import Encoder, MemoEncoder, load_encoder
from search.factory import make_backend, make_fallback
from search.indexing import (
    DrainReport,
    drain_outbox,
    expert_documents,
    iter_all_documents,
    last_outbox_id,
    requeue_since,
    settle_through,
    with_vectors,
)
from search.needs import (
    NeedModel,
    asks_for_visit,
    examples_from_experts,
    fit_need_model,
    heldout_figure,
    normalise_message,
    split_sentences,
)

log = logging.getLogger("heart.search")
_Cache = TypeVar("_Cache", EmbeddingCache, TokenCache)

MAX_RESULTS = (
    200  # a text query ranks at most this many documents (pagination and facets over them)
)
MAX_QUERY_CHARS = 1000
CANDIDATES_PER_SIGNAL = 200
CALIBRATION_SAMPLE = 300  # experts encoded to measure the dense signal before a rebuild
NEED_TOP = 8
NAMED_CANDIDATES = 10  # lexical hits of a message's stripped words searched for a named expert
EMBED_CACHE = "embeddings.sqlite"  # search.embed_cache, beside the index versions
MODEL_RECORD = "need_model.json"  # what the need model read and measured when trained
# directory_fingerprint of what it read, apart: 100k experts' hashes took a quarter second to
# parse, and only drift needs them (and only when the outbox holds writes since)
MODEL_DIRECTORY = "need_model_directory.json"
NEED_MODEL_VERSION = "needs-2"  # 2: need extraction (context class, clause reading)
# Retrain the need model when this share of the directory is new to it. Measured with
# benchmarks/search_quality.py --drift (a model that has not read a share of the dev experts
# ranks the whole pool; bios only, lexical; mean loss of nDCG@10 over 3 seeds): 10% 0.001,
# 20% 0.002, 30% 0.005 (one seed 0.011), 50% 0.021: the loss stays at noise level up to a
# fifth of the directory.
DRIFT_THRESHOLD = 0.2
# A query contained (almost) whole in a document is a look-up: lexical evidence then outweighs
# the need model (weight 1.0). See lookup_strength.
LOOKUP_THRESHOLD = 0.8
LOOKUP_LEXICAL_WEIGHT = (
    2.0  # specialties of the need distribution used for retrieval, fusion and reasons
)


@dataclass
class SearchRequest:
    q: str = ""
    kind: str | None = "expert"
    domain: str | None = None
    specialty: str | None = None
    city: str | None = None
    district: str | None = None
    format: str | None = None
    service_type: str | None = None
    language: str | None = None
    resource_kind: str | None = None
    audience: str | None = None
    # Resources readable by the searcher ("all", "center:<id>", "staff:<id>"); None: no
    # restriction (province staff).
    access: tuple[str, ...] | None = None
    include_inactive: bool = False
    page: int = 1
    page_size: int = 10
    # The searching school's city: an on-site search (format "onsite", or a message asking for
    # a visit, search.needs.asks_for_visit) prefers experts there, then in nearby cities.
    near_city: str | None = None

    def filters(self) -> Filters:
        return Filters.of(
            kind=self.kind,
            domain=self.domain,
            specialties=self.specialty,
            city=self.city,
            district=self.district,
            formats=self.format,
            service_types=self.service_type,
            languages=self.language,
            resource_kind=self.resource_kind,
            audiences=self.audience,
            access=self.access,
            status=None if self.include_inactive else "active",
        )


@dataclass
class Hit:
    id: str
    kind: str
    title: str
    score: float
    matched_specialties: list[str]
    snippet: str
    highlights: list[str]
    reasons: list[str]
    signals: dict[str, float] = field(default_factory=dict)


@dataclass
class SearchResponse:
    hits: list[Hit]
    total: int
    page: int
    page_size: int
    facets: dict[str, dict[str, int]]
    needs: list[tuple[str, float]]
    backend: str
    degraded: bool = False
    # The query is below the relevance floor (search/floor.py): no hits, closest specialties.
    no_match: bool = False
    suggestions: list[str] = field(default_factory=list)


def _clean_query(q: str) -> str:
    return re.sub(r"\s+", " ", (q or "")[:MAX_QUERY_CHARS]).strip()


class SearchService:
    """Owns the analyzer, the need model, the encoder and the backends for one process."""

    def __init__(self, *, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._lock = threading.Lock()
        self._analyzer: ChineseAnalyzer | None = None
        self._need_model: NeedModel | None = None
        self._need_model_mtime: float | None = None
        self._encoder: Encoder | None = None
        self._encoder_for: tuple[str | None] | None = None  # the index model it was loaded for
        self._encoder_meta: tuple[float, int | None, str | None] | None = None
        self._caches: dict[type, EmbeddingCache | TokenCache] = {}
        # Told each search's duration in seconds (the web app feeds its latency histogram).
        self.on_search: Callable[[float], None] | None = None
        self.weights = tuning.load_weights(self.model_dir / "weights.json")
        dims = self._vector_dims()
        self.backend: SearchBackend = make_backend(settings, dims)
        self.fallback: SearchBackend | None = make_fallback(settings, dims)

    # -- derived artefacts -----------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self.settings.search_dir / "models"

    def _index_meta(self) -> tuple[int | None, str | None]:
        """(dimensions of the live index's vectors or None, the encoder the last build used or
        None), re-read only when the rebuild that wrote encoder.json (maybe in another
        process) changed it."""
        meta = self.model_dir / "encoder.json"
        try:
            mtime = meta.stat().st_mtime
        except FileNotFoundError:
            return None, None
        if self._encoder_meta is None or self._encoder_meta[0] != mtime:
            written = json.loads(meta.read_text(encoding="utf-8"))
            self._encoder_meta = (mtime, written.get("dims"), written.get("model"))
        return self._encoder_meta[1], self._encoder_meta[2]

    def _vector_dims(self) -> int | None:
        return self._index_meta()[0]

    def _vocabulary(self) -> tuple[list[str], dict[str, list[str]]]:
        with Session(self.engine) as session:
            rows = session.exec(select(Specialty).order_by(col(Specialty.id))).all()
        return [s.name for s in rows], {s.name: list(s.synonyms) for s in rows}

    @property
    def analyzer(self) -> ChineseAnalyzer:
        if self._analyzer is None:
            names, synonyms = self._vocabulary()
            self._analyzer = ChineseAnalyzer(names, synonyms=synonyms, memory=self.token_cache)
        return self._analyzer

    @property
    def need_model(self) -> NeedModel | None:
        path = self.model_dir / "need_model.npz"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        if self._need_model is None or mtime != self._need_model_mtime:
            model = NeedModel.load(path)
            if model.dense_coef is not None and not model.attach_encoder(self.encoder):
                log.warning(
                    "need model trained with encoder %s, which is not loaded: lexical view only",
                    model.dense_model,
                )
            self._need_model = model
            self._need_model_mtime = mtime
            self.weights = tuning.load_weights(self.model_dir / "weights.json")
        return self._need_model

    @property
    def encoder(self) -> Encoder | None:
        """The dense encoder queries and drains use (None when switched off): the model the
        setting names, or for `auto` the one this data dir's last build used (loaded on first
        use, and again when a build in any process changed it)."""
        built_with = (self._index_meta()[1],)
        if self._encoder_for != built_with:
            with self._lock:
                if self._encoder_for != built_with:
                    self._encoder = self._load_encoder(current=built_with[0])
                    self._encoder_for = built_with
        return self._encoder

    def _load_encoder(
        self, *, experts: int | None = None, current: str | None = None
    ) -> Encoder | None:
        return load_encoder(
            self.settings.embed_model,
            self.settings.embed_device,
            self.settings.models_dir,
            experts=experts,
            current=current,
        )

    def _build_encoder(self) -> Encoder | None:
        """The encoder a full build uses: for `auto`, the model the directory's size calls for
        (search.encoder.effective_model), which may differ from the one the index has now."""
        return self._load_encoder(experts=self._expert_count(), current=self._index_meta()[1])

    def _expert_count(self) -> int:
        with Session(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(Expert)).one())

    def _backends(self) -> list[SearchBackend]:
        return [b for b in (self.backend, self.fallback) if b is not None]

    # -- building ----------------------------------------------------------------------------
    @property
    def embedding_cache(self) -> EmbeddingCache:
        """Vectors by (model, text hash), shared by rebuilds and drains of this data dir."""
        return self._cache(EmbeddingCache)

    @property
    def token_cache(self) -> TokenCache:
        """Tokens by (analyzer fingerprint, text hash), shared likewise."""
        return self._cache(TokenCache)

    def _cache(self, kind: type[_Cache]) -> _Cache:
        cache = self._caches.get(kind)
        if cache is None:
            with self._lock:
                cache = self._caches.get(kind) or kind(self.settings.search_dir / EMBED_CACHE)
                self._caches[kind] = cache
        assert isinstance(cache, kind)
        return cache

    def cached_encoder(self, encoder: Encoder | None = None) -> CachedEncoder | None:
        """`encoder` (default: the one queries use) behind the embedding cache (None when
        switched off)."""
        encoder = encoder or self.encoder
        return CachedEncoder(encoder, self.embedding_cache) if encoder else None

    def _records(self) -> list[dict]:
        with Session(self.engine) as session:
            return need_model_records(session=session)

    def train_need_model(
        self, records: list[dict] | None = None, *, encoder: Encoder | None = None
    ) -> NeedModel | None:
        """Learn text → specialty from the directory itself (bios and titles ↔ specialty tags),
        recording its version, training size, held-out figure and the directory it read
        (`encoder`: the build's, default the one queries use)."""
        names, synonyms = self._vocabulary()
        # Changes after this outbox event are the ones the model has not read (see drift);
        # records read by the caller came at an unknown point, so drift then reads it all.
        outbox_after = last_outbox_id(self.engine) if records is None else None
        records = self._records() if records is None else records
        examples = examples_from_experts(records, vocabulary=names, synonyms=synonyms)
        extra = tuning.labelled_examples(self.settings)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        path = self.model_dir / "need_model.npz"
        if len(names) < 2:  # nothing to choose between: lexical search carries the ranking
            path.unlink(missing_ok=True)
            (self.model_dir / MODEL_RECORD).unlink(missing_ok=True)
            (self.model_dir / MODEL_DIRECTORY).unlink(missing_ok=True)
            return None
        dense = encoder or self.encoder
        encoder = self.cached_encoder(dense)
        figure = heldout_figure(
            examples, extra, vocabulary=names, synonyms=synonyms, encoder=encoder
        )
        model = fit_need_model(
            [*examples, *extra], vocabulary=names, synonyms=synonyms, encoder=encoder
        )
        model.meta.update(
            version=NEED_MODEL_VERSION,
            trained_at=utcnow().isoformat(timespec="seconds"),
            experts=len(records),
            labelled_needs=len(extra),
            heldout=figure,
        )
        if encoder is not None:
            model.attach_encoder(dense)
        model.save(path)
        record = {
            **{
                k: model.meta.get(k) for k in ("version", "trained_at", "experts", "labelled_needs")
            },
            "examples": model.meta.get("n_examples"),
            "heldout": figure,
            "encoder": model.dense_model if model.dense_coef is not None else None,
            "outbox_after": outbox_after,
        }
        # written before the record that points past it, so a record never meets an older one
        (self.model_dir / MODEL_DIRECTORY).write_text(
            json.dumps(directory_fingerprint(records)), encoding="utf-8"
        )
        (self.model_dir / MODEL_RECORD).write_text(
            json.dumps(record, ensure_ascii=False), encoding="utf-8"
        )
        return model

    def model_record(self) -> dict | None:
        """What the saved need model recorded when it was trained (None: no model)."""
        if not (self.model_dir / "need_model.npz").exists():
            return None
        try:
            return json.loads((self.model_dir / MODEL_RECORD).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}  # a model saved before records were kept: its directory is unknown

    def drift(self, records: list[dict] | None = None) -> float | None:
        """Share of the directory the need model has not read: experts added, removed or whose
        specialties, title or bio changed since it was trained (None: no model)."""
        return self._drift(self.model_record(), records)

    def _drift(self, record: dict | None, records: list[dict] | None = None) -> float | None:
        if record is None:
            return None
        if records is None:
            changed = self._changed_since(record)
            if changed is not None:
                return changed / max(int(record.get("experts") or 0), 1)
        trained = record.get("directory") or self._trained_directory()
        if not trained:
            return 1.0
        now = directory_fingerprint(self._records() if records is None else records)
        changed = sum(1 for k, v in now.items() if trained.get(k) != v)
        removed = sum(1 for k in trained if k not in now)
        return (changed + removed) / max(len(trained), 1)

    def _trained_directory(self) -> dict[str, str] | None:
        try:
            return json.loads((self.model_dir / MODEL_DIRECTORY).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def _changed_since(self, record: dict) -> int | None:
        """Experts added, removed or changed in what the need model reads, found among those
        the outbox recorded a write of since the model read the directory: the cost follows
        the change, not the directory (reading 100k experts took 21 s). None when the outbox
        cannot tell: a model recorded without its outbox position, a database restored to an
        older outbox, or experts written without an outbox event (the count disagrees)."""
        outbox_after, experts_then = record.get("outbox_after"), record.get("experts")
        if outbox_after is None or experts_then is None:
            return None
        with Session(self.engine) as session:
            newest = session.exec(select(func.max(IndexOutbox.id))).one() or 0
            if newest < outbox_after:
                return None
            written = session.exec(
                select(IndexOutbox.entity_id)
                .where(col(IndexOutbox.id) > outbox_after, IndexOutbox.entity_type == "expert")
                .distinct()
            ).all()
            experts = int(session.exec(select(func.count()).select_from(Expert)).one())
            now = _need_fingerprints(session, list(written)) if written else {}
        trained = (record.get("directory") or self._trained_directory() or {}) if written else {}
        if written and not trained:
            return None
        added = sum(1 for k in now if k not in trained)
        removed = sum(1 for k in written if k in trained and k not in now)
        if experts != experts_then + added - removed:
            log.warning("experts were written without an outbox event: drift reads the directory")
            return None
        return sum(1 for k, v in now.items() if trained.get(k) != v) + removed

    def ensure_whole(
        self, *, progress: Callable[[int, int], None] | None = None, threshold: float | None = None
    ) -> dict:
        """What `heart index` does: build what is missing, retrain a drifted need model, and
        drain the outbox. A data dir without a need model gets a full rebuild (model, weights,
        vectors), and so does one whose need model or vectors another encoder made (action
        "reencode"); a model that has not read DRIFT_THRESHOLD of the directory is retrained."""
        limit = DRIFT_THRESHOLD if threshold is None else threshold
        stale_encoder = self._stale_encoder()
        if stale_encoder is not None:
            result = self.rebuild(progress)
            return {"action": "reencode", "reason": stale_encoder, **result}
        if self.model_record() is None:
            names, _ = self._vocabulary()
            with Session(self.engine) as session:
                has_experts = session.exec(select(Expert.id).limit(1)).first() is not None
            if len(names) >= 2 and has_experts:
                result = self.rebuild(progress)
                return {"action": "rebuild", "reason": "no need model", **result}
        drift = self.drift()
        action = "drain"
        if drift is not None and drift >= limit:
            self.train_need_model()
            action = "retrain"
        report = self.drain()
        return {"action": action, "drift": drift, "drained": report.events}

    def _stale_encoder(self) -> str | None:
        """`old -> new` when the need model or the index vectors were made by another encoder
        than a build would use now (the setting moved to the int8 model, or under `auto` the
        directory grew past AUTO_INT8_FROM), else None."""
        record = self.model_record() or {}
        try:
            meta = json.loads((self.model_dir / "encoder.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            meta = {}
        used = {record.get("encoder"), meta.get("model") if meta.get("dims") else None} - {None}
        if not used:
            return None
        build = self._build_encoder()
        current = build.name if build is not None else None
        stale = sorted(str(u) for u in used if u != current)
        return f"{', '.join(stale)} -> {current}" if stale else None

    def status(self) -> dict:
        """Documents per backend, pending outbox, the need model's age and version, encoder."""
        with Session(self.engine) as session:
            pending = session.exec(
                select(func.count())
                .select_from(IndexOutbox)
                .where(col(IndexOutbox.processed_at).is_(None))
            ).one()
        documents: dict[str, int | None] = {}
        for backend in self._backends():
            try:
                documents[backend.name] = backend.count()
            except Unavailable:
                documents[backend.name] = None
        record = self.model_record()
        model: dict | None = None
        if record is not None:
            model = {k: v for k, v in record.items() if k not in ("directory", "outbox_after")}
            trained_at = record.get("trained_at")
            if trained_at:
                age = utcnow() - datetime.fromisoformat(trained_at)
                model["age_hours"] = round(age.total_seconds() / 3600, 2)
            model["drift"] = self._drift(record)
            model["drift_threshold"] = DRIFT_THRESHOLD
        encoder_meta = {}
        try:
            encoder_meta = json.loads((self.model_dir / "encoder.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            pass
        cache_path = self.settings.search_dir / EMBED_CACHE
        return {
            "documents": documents,
            "pending": int(pending),
            "need_model": model,
            "encoder": {
                "setting": self.settings.embed_model,
                "index_vectors": encoder_meta.get("model") if encoder_meta.get("dims") else None,
                "dims": encoder_meta.get("dims"),
                "cached_vectors": self.embedding_cache.count() if cache_path.exists() else 0,
            },
            "weights": self.weights.as_dict(),
        }

    def index_gap(self) -> str | None:
        """Why a search that found nothing may say nothing about the need: "no_experts" (the
        directory is empty), "missing" (experts, but the index was never built or is empty),
        else None. Asked only after a search came back empty, so it costs nothing otherwise."""
        try:
            if self.backend.count() > 0:
                return None
        except Unavailable:
            return None  # the search itself said so (or answered from the fallback)
        return "missing" if self._expert_count() else "no_experts"

    def index_gap_error(self, *, can_index: bool) -> Unavailable | None:
        """The error that says the index (or the directory) is empty and what to do: run
        `heart index` for those who manage the directory, ask the resource center for others;
        None when the index holds documents."""
        gap = self.index_gap()
        if gap is None:
            return None
        return Unavailable(_INDEX_GAP_MESSAGES[gap, can_index], code=f"search_index_{gap}")

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> dict:
        """Retrain the need model, measure the encoder, and rebuild every backend from the database."""
        self._analyzer = None
        started_after = last_outbox_id(self.engine)
        # The rebuild asks the embedding cache for every text the directory has now: what it
        # does not ask for (edited or removed profiles, another encoder's vectors) is dropped.
        # The same holds for the token cache and the analyzer's fingerprint.
        builder = self._build_encoder()
        sweeps: list[tuple[EmbeddingCache | TokenCache, str]] = [
            (self.token_cache, self.analyzer.fingerprint)
        ]
        if builder is not None:
            sweeps.append((self.embedding_cache, builder.name))
        for cache, _ in sweeps:
            cache.begin_sweep()
        try:
            result = self._rebuild(started_after, progress, builder)
        except BaseException:
            for cache, _ in sweeps:
                cache.end_sweep("", prune=False)
            raise
        for cache, space in sweeps:
            pruned = cache.end_sweep(space)
            log.info("%s cache: %d entries of texts no longer indexed dropped", cache.TABLE, pruned)
        return result

    def _rebuild(
        self,
        started_after: int,
        progress: Callable[[int, int], None] | None,
        builder: Encoder | None,
    ) -> dict:
        self.train_need_model(encoder=builder)
        # One rebuild meets each document's text up to three times (calibration sample, then
        # once per backend), and most texts were encoded by the rebuild before: the embedding
        # cache answers them, the memo spares the cache lookups within this rebuild.
        cached = self.cached_encoder(builder)
        encoder = MemoEncoder(cached) if cached is not None else None
        sample: list = []
        if encoder is not None:
            with Session(self.engine) as session:
                ids = list(
                    session.exec(
                        select(Expert.id).order_by(Expert.id).limit(CALIBRATION_SAMPLE)
                    ).all()
                )
                sample = with_vectors(expert_documents(session, ids, self.analyzer), encoder)
        self.weights = tuning.calibrate(sample, encoder, self.analyzer)
        tuning.save_weights(self.weights, self.model_dir / "weights.json")
        # Vectors are computed only when the dense signal earned a weight on this directory.
        encoder = encoder if self.weights.dense > 0 else None
        dims = encoder.dims if encoder else None
        (self.model_dir / "encoder.json").write_text(
            json.dumps(
                {"model": builder.name if builder else self.settings.embed_model, "dims": dims}
            ),
            encoding="utf-8",
        )
        self.backend = make_backend(self.settings, dims)
        self.fallback = make_fallback(self.settings, dims)
        versions = {}
        for backend in self._backends():
            total, documents = iter_all_documents(self.engine, self.analyzer, encoder)

            def report(done: int, total: int = total) -> None:
                if progress:
                    progress(done, total)

            versions[backend.name] = backend.rebuild(documents, total=total, progress=report)
        # Writes drained into the old index while the new one was loading must be applied again;
        # those from before the rebuild began are in what it read.
        settle_through(self.engine, started_after)
        requeue_since(self.engine, started_after)
        self.drain()
        return {"versions": versions, "weights": self.weights.as_dict()}

    def drain(self, progress: Callable[[int], None] | None = None) -> DrainReport:
        """Bring every backend up to date with the outbox (one drain at a time per data dir)."""
        # Documents are built from the database as it is when drained: a slow drainer in one
        # process (a server worker, `heart index --drain`) could otherwise write an older
        # version of a record after a faster one wrote the newer.
        self.settings.search_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.search_dir / ".drain.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return drain_outbox(
                engine=self.engine,
                backends=self._backends(),
                analyzer=self.analyzer,
                encoder=self.cached_encoder() if self._dense_on() else None,
                progress=progress,
            )

    def _dense_on(self) -> bool:
        """True when the live index carries vectors (the encoder earned a weight at rebuild)."""
        return self._vector_dims() is not None

    # -- querying ----------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResponse:
        """Ranked, explained hits; an empty query browses. Falls back to the embedded index."""
        started = time.perf_counter()
        try:
            return self._search(request, self.backend, degraded=False)
        except Unavailable:
            if self.fallback is None:
                raise
            log.warning("search backend unavailable; answering from the embedded index")
            return self._search(request, self.fallback, degraded=True)
        finally:
            if self.on_search is not None:
                self.on_search(time.perf_counter() - started)

    def _search(
        self, request: SearchRequest, backend: SearchBackend, *, degraded: bool
    ) -> SearchResponse:
        # traditional characters, full-width letters and English abbreviations read as the
        # directory writes them (search.needs.normalise_message), by every stage alike
        q = normalise_message(_clean_query(request.q))
        filters = request.filters()
        page_size = max(1, min(request.page_size, MAX_RESULTS))
        offset = (max(1, request.page) - 1) * page_size
        tokens = self.analyzer.query_tokens(q) if q else []
        if q and not tokens:  # only emoji, punctuation or symbols: nothing to search for
            return self._no_match(request, page_size, {}, backend.name, degraded)
        if not tokens:
            browse = backend.browse(filters=filters, offset=offset, size=page_size)
            hits = [
                Hit(c.doc.record_id, c.doc.kind, c.doc.title, 0.0, [], c.doc.text[:120], [], [])
                for c in browse.candidates
            ]
            return SearchResponse(
                hits,
                browse.total,
                request.page,
                page_size,
                browse.facets,
                [],
                backend.name,
                degraded,
            )
        need_model = self.need_model
        weights = self.weights
        query_vector = None  # encoded once, for the need model's dense view and dense retrieval
        encoder = self.encoder
        wants_dense = weights.dense > 0 and self._dense_on() and encoder is not None
        clause_vectors = None  # the need model's clauses, encoded beside the query
        if encoder is not None and (wants_dense or (need_model and need_model.uses_dense)):
            query_vector, clause_vectors = _encode_beside(encoder, q, need_model)
        needs: dict[str, float] = {}
        lexical_tokens = tokens
        if need_model is not None:
            reading = need_model.read(
                q, top=NEED_TOP, vector=query_vector, clause_vectors=clause_vectors
            )
            needs = reading.needs
            if reading.need_text != q:  # BM25 reads the need, not the message around it
                lexical_tokens = self.analyzer.tokens(reading.need_text) or tokens
        vector = query_vector.tolist() if wants_dense and query_vector is not None else None
        retrieval = backend.retrieve(
            tokens=list(dict.fromkeys(lexical_tokens)),
            specialty_weights=needs,
            vector=vector,
            filters=filters,
            size=CANDIDATES_PER_SIGNAL,
        )
        candidates = retrieval.candidates
        named = self._named(q, tokens, lexical_tokens, candidates, backend, filters)
        retrieved = {c.doc.id for c in candidates}
        candidates += [c for c in named if c.doc.id not in retrieved]
        lookup = 1.0 if named else lookup_strength(lexical_tokens, candidates)
        if floor.is_no_match(lexical_tokens, candidates, needs, lookup=lookup):
            return self._no_match(request, page_size, needs, backend.name, degraded)
        fusion = weights.fusion()
        if lookup > 0:
            fusion = replace(fusion, lexical=fusion.lexical + LOOKUP_LEXICAL_WEIGHT * lookup)
        fused = ranking.fuse_scores(
            [c.doc.specialties for c in candidates],
            needs or None,
            [c.lexical for c in candidates],
            [c.dense for c in candidates] if vector is not None else None,
            weights=fusion,
        )
        if request.near_city and (request.format == "onsite" or asks_for_visit(q)):
            # an expert who works online only is no nearer for a visit than one far away
            cities = [
                next(iter(c.doc.filters.get("city") or ()), None)
                if "onsite" in (c.doc.filters.get("formats") or ())
                else None
                for c in candidates
            ]
            fused = ranking.prefer_near(fused, cities, request.near_city)
        first = {c.doc.id: k for k, c in enumerate(named)}  # named experts lead, in order
        order = sorted(
            range(len(candidates)),
            key=lambda i: (
                first.get(candidates[i].doc.id, len(first)),
                -fused[i],
                candidates[i].doc.sort_key,
            ),
        )
        scored = [(candidates[i], fused[i]) for i in order][:MAX_RESULTS]
        facets = _count_facets([c.doc.filters for c, _ in scored])
        page = scored[offset : offset + page_size]
        query_terms = set(lexical_tokens)  # the keywords shown are the ones searched for
        hits = []
        for candidate, score in page:
            doc = candidate.doc
            matched = ranking.matched_specialties(needs, doc.specialties)
            snippet, highlights = _snippet(doc.text, query_terms)
            hits.append(
                Hit(
                    id=doc.record_id,
                    kind=doc.kind,
                    title=doc.title,
                    score=round(float(score), 6),
                    matched_specialties=[name for name, _ in matched],
                    snippet=snippet,
                    highlights=highlights,
                    reasons=tuning.reasons(matched, highlights, candidate),
                    signals={"lexical": candidate.lexical, "dense": candidate.dense},
                )
            )
        top_needs = sorted(needs.items(), key=lambda kv: -kv[1])
        return SearchResponse(
            hits, len(scored), request.page, page_size, facets, top_needs, backend.name, degraded
        )

    def _named(
        self,
        q: str,
        tokens: list[str],
        lexical_tokens: list[str],
        candidates: list[Candidate],
        backend: SearchBackend,
        filters: Filters,
    ) -> list[Candidate]:
        """Experts the message asks for by name (search.lookup), also where need extraction
        stripped the name's clause: its words are then searched for on their own."""
        pool = list(candidates)
        kept = set(lexical_tokens)
        stripped = [t for t in dict.fromkeys(tokens) if t not in kept]
        if stripped:
            extra = backend.retrieve(
                tokens=stripped,
                specialty_weights={},
                vector=None,
                filters=filters,
                size=NAMED_CANDIDATES,
            ).candidates
            held = {c.doc.id for c in pool}
            # ranked by the need and the need's words: the stripped words' scores stay out
            pool += [replace(c, lexical=0.0) for c in extra if c.doc.id not in held]
        return lookup.named_experts(q, pool)

    def _no_match(
        self,
        request: SearchRequest,
        page_size: int,
        needs: dict[str, float],
        backend_name: str,
        degraded: bool,
    ) -> SearchResponse:
        """No hits, true counts (zero) and the two closest specialties to try instead."""
        vocabulary = _vocabulary_of(self.need_model)
        return SearchResponse(
            hits=[],
            total=0,
            page=request.page,
            page_size=page_size,
            facets={},
            needs=sorted(needs.items(), key=lambda kv: -kv[1]),
            backend=backend_name,
            degraded=degraded,
            no_match=True,
            suggestions=floor.suggestions(needs, vocabulary),
        )


def _encode_beside(
    encoder: Encoder, q: str, need_model: NeedModel | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(the query's vector, the vectors of the clauses the need model reads, or None): the two
    encoder calls run at once, on two cores, when the model reads the query clause by clause.
    They are the same calls the model would make one after the other (one text, then the
    clauses in one batch), so the vectors, and the ranking, are the same; a bare need at 100k
    experts answers ~4 ms sooner."""
    clauses = need_model.clauses_to_encode(q) if need_model is not None else []
    if not clauses:
        return encoder.encode([q])[0], None
    query = query_pool().submit(encoder.encode, [q])
    clause_vectors = encoder.encode(clauses)
    return query.result()[0], clause_vectors


_INDEX_GAP_MESSAGES = {
    ("missing", True): messages.SEARCH_INDEX_MISSING_STAFF,
    ("missing", False): messages.SEARCH_INDEX_MISSING_OTHERS,
    ("no_experts", True): messages.SEARCH_NO_EXPERTS_STAFF,
    ("no_experts", False): messages.SEARCH_NO_EXPERTS_OTHERS,
}


def _vocabulary_of(model: object) -> list[str]:
    return list(getattr(model, "labels", []) or [])


def directory_fingerprint(records: list[dict]) -> dict[str, str]:
    """Expert id -> a short hash of what the need model reads of it (specialties, title, bio)."""
    return {
        str(r["id"]): _need_fingerprint(r.get("specialties") or (), r.get("title"), r.get("bio"))
        for r in records
    }


def _need_fingerprint(specialties: Iterable[str], title: str | None, bio: str | None) -> str:
    key = json.dumps([sorted(specialties), title or "", bio or ""], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def _need_fingerprints(session: Session, ids: list[str]) -> dict[str, str]:
    """directory_fingerprint of these experts (those that exist), read from their rows: the
    same three fields export_records writes, without building whole records."""
    out = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        specialties: dict[str, list[str]] = {}
        for expert_id, name in session.exec(
            select(ExpertSpecialty.expert_id, Specialty.name)
            .join(Specialty, col(Specialty.id) == col(ExpertSpecialty.specialty_id))
            .where(col(ExpertSpecialty.expert_id).in_(chunk))
        ).all():
            specialties.setdefault(expert_id, []).append(name)
        rows = session.exec(
            select(Expert.id, Expert.title, Expert.bio).where(col(Expert.id).in_(chunk))
        ).all()
        for expert_id, title, bio in rows:
            out[expert_id] = _need_fingerprint(specialties.get(expert_id, []), title, bio)
    return out


def lookup_strength(tokens: list[str], candidates: list[Candidate]) -> float:
    """0..1: how much the query reads as a look-up (a name, an organisation, an exact term).

    It is the share of the query's characters (over distinct tokens) that the best lexical
    match contains, mapped so that only near-complete containment counts. District needs
    are long and no document contains them (dev set: at most 0.69), while a name or a term
    copied from a profile is contained whole (1.0).
    """
    best = max(candidates, key=lambda c: c.lexical, default=None)
    if best is None or best.lexical <= 0:
        return 0.0
    distinct = list(dict.fromkeys(tokens))
    held = set(best.doc.tokens)
    share = sum(len(t) for t in distinct if t in held) / sum(len(t) for t in distinct)
    return max(0.0, min(1.0, (share - LOOKUP_THRESHOLD) / (1.0 - LOOKUP_THRESHOLD)))


def _count_facets(filters_list: list[dict[str, list[str]]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {f: {} for f in FACET_FIELDS}
    for doc_filters in filters_list:  # up to MAX_RESULTS documents per query: keep it lean
        for field_name, values in doc_filters.items():
            counter = counts.get(field_name)
            if counter is None or not values:
                continue
            for value in values if len(values) == 1 else set(values):
                counter[value] = counter.get(value, 0) + 1
    return {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for f, c in counts.items()}


def _snippet(text: str, terms: set[str], width: int = 120) -> tuple[str, list[str]]:
    """The sentence of `text` holding most of the query's terms of two or more characters, and
    those terms in the order they appear in it. (Found by substring: tokenising every hit's
    sentences again was a quarter of a query's CPU at 100k experts.)"""
    wanted = [t for t in terms if len(t) > 1]
    best, best_terms = "", list[str]()
    for sentence in split_sentences(text):
        shared = sorted(
            (t for t in wanted if t in sentence), key=lambda t: (sentence.find(t), -len(t), t)
        )
        if len(shared) > len(best_terms):
            best, best_terms = sentence, shared
    if not best:
        best = text
    return best[:width], best_terms


class BackgroundDrainer:
    """Drains the outbox every few seconds in a daemon thread, so writes reach the index."""

    def __init__(self, service: SearchService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heart-index-drain", daemon=True)

    def start(self) -> BackgroundDrainer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.service.drain()
            except Unavailable:
                pass  # the events stay queued; the next round tries again
            except Exception:  # a drain must never take the server down
                log.exception("outbox drain failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
