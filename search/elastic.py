"""The Elasticsearch backend: the same SearchBackend as the embedded index, on an 8.x cluster.

Documents live in versioned indices `<alias>_v<stamp>` behind one alias; `rebuild` loads a new
version and swaps the alias in a single `_aliases` request, so readers never see a half-built
index. The first version is created lazily (`<alias>_v0`), so writes work before any rebuild.

Retrieval mirrors search/embedded.py: BM25 over the hub's own segmented tokens (a `whitespace`
field), a specialty-weight sum (`constant_score` clauses) and kNN over a `dense_vector` (HNSW,
cosine), run in one `msearch` and fused by the caller (search/service.py), so no licence is
needed for hybrid ranking. Scores are converted to the embedded index's scale: Elasticsearch's
BM25 is Lucene's legacy variant with an extra (k1 + 1) factor, and its cosine score is
(1 + cos) / 2.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, helpers

from marketplace.errors import Unavailable
from search.base import (
    FACET_FIELDS,
    FILTER_FIELDS,
    TOKEN_FIELDS,
    Candidate,
    Filters,
    Retrieval,
    SearchDocument,
    token_field,
)

if TYPE_CHECKING:
    from marketplace.settings import Settings

BM25_K1 = 1.2
BM25_B = 0.75
# Elasticsearch 8 scores with LegacyBM25Similarity: Lucene's BM25 times (k1 + 1).
LEGACY_BM25_FACTOR = BM25_K1 + 1
MAX_WINDOW = 10_000  # index.max_result_window and the kNN num_candidates ceiling
FIRST_VERSION = "0"

ENGINE_UNAVAILABLE = "搜索引擎暂时不可用，请稍后再试"
INDEX_WRITE_FAILED = "搜索索引写入失败（{count} 条）：{ids}"

_UNAVAILABLE_STATUSES = {429, 502, 503, 504}


class IndexWriteError(Unavailable):
    """Some documents were rejected by the engine; `details` maps id → reason."""


def _is_nonzero(vector: Sequence[float] | None) -> TypeGuard[Sequence[float]]:
    return vector is not None and any(vector)


class ElasticIndex:
    """A SearchBackend on an Elasticsearch 8.x cluster, behind an alias with versioned indices."""

    name = "elasticsearch"

    def __init__(
        self,
        url: str | Sequence[str],
        alias: str,
        *,
        vector_dims: int | None = None,
        request_timeout: float = 10.0,
        retries: int = 3,
        shards: int = 1,
        replicas: int = 0,
        refresh_writes: bool = True,
        bulk_chunk_size: int = 500,
        bulk_max_retries: int = 5,
        bulk_initial_backoff: float = 0.5,
        replica_wait: int = 60,
        client: Elasticsearch | None = None,
    ) -> None:
        hosts = [url] if isinstance(url, str) else list(url)
        self.node_count = len(hosts)
        self.alias = alias
        self.vector_dims = vector_dims
        self.shards = shards
        self.replicas = replicas
        self.refresh_writes = refresh_writes
        self.bulk_chunk_size = bulk_chunk_size
        self.bulk_max_retries = bulk_max_retries
        self.bulk_initial_backoff = bulk_initial_backoff
        self.replica_wait = replica_wait
        self.client = client or Elasticsearch(
            hosts,
            request_timeout=request_timeout,
            max_retries=retries,
            retry_on_timeout=True,
        )
        self._version_pattern = re.compile(rf"^{re.escape(alias)}_v(\d+)$")
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, vector_dims: int | None = None, **options: Any
    ) -> ElasticIndex:
        """The backend configured by HEART_ELASTICSEARCH_URL (comma-separated) and _INDEX."""
        urls = [u.strip() for u in settings.elasticsearch_url.split(",") if u.strip()]
        return cls(urls, settings.elasticsearch_index, vector_dims=vector_dims, **options)

    # -- errors ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _engine(self) -> Iterator[None]:
        """Turn connection failures (and an overloaded or masterless cluster) into Unavailable."""
        try:
            yield
        except (TransportConnectionError, ConnectionTimeout) as exc:
            raise Unavailable(ENGINE_UNAVAILABLE, details=str(exc)) from exc
        except ApiError as exc:
            if exc.meta.status in _UNAVAILABLE_STATUSES:
                raise Unavailable(ENGINE_UNAVAILABLE, details=str(exc)) from exc
            raise
        except TransportError as exc:
            raise Unavailable(ENGINE_UNAVAILABLE, details=str(exc)) from exc

    # -- index management ------------------------------------------------------------------
    def index_body(self) -> dict[str, Any]:
        """Settings and mappings of one index version."""
        keyword = {"type": "keyword"}
        properties: dict[str, Any] = {
            "id": keyword,
            "kind": keyword,
            "record_id": keyword,
            "title": {"type": "text", "analyzer": "standard"},
            "text": {"type": "text", "index": False},
            **{
                field: {
                    "type": "text",
                    "analyzer": "whitespace",
                    "similarity": "hub_bm25",
                    "norms": True,
                }
                for field in TOKEN_FIELDS
            },
            "specialties": keyword,
            "filters": {
                "type": "object",
                "dynamic": True,
                "properties": {name: keyword for name in FILTER_FIELDS},
            },
            "sort_key": keyword,
        }
        if self.vector_dims:
            properties["vector"] = {
                "type": "dense_vector",
                "dims": self.vector_dims,
                "element_type": "float",
                "index": True,
                "similarity": "cosine",
                # Explicit: 8.14+ defaults to int8_hnsw (quantised) for larger vectors.
                "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
            }
        return {
            "settings": {
                "number_of_shards": self.shards,
                "number_of_replicas": self.replicas,
                "similarity": {"hub_bm25": {"type": "BM25", "k1": BM25_K1, "b": BM25_B}},
            },
            "mappings": {
                # Unknown top-level fields are kept in _source only; unknown filters are keywords.
                "dynamic": False,
                "dynamic_templates": [
                    {
                        "filters_as_keywords": {
                            "path_match": "filters.*",
                            "match_mapping_type": "string",
                            "mapping": keyword,
                        }
                    }
                ],
                "properties": properties,
            },
        }

    def versions(self) -> list[str]:
        """Names of this alias's version indices, oldest first."""
        with self._engine():
            found = self.client.indices.get(
                index=f"{self.alias}_v*", expand_wildcards="open,closed", ignore_unavailable=True
            )
        names = [n for n in found if self._version_pattern.match(n)]
        return sorted(names, key=self._version_of)

    def _version_of(self, name: str) -> int:
        """The version number of one of this alias's version indices."""
        match = self._version_pattern.match(name)
        assert match is not None, name
        return int(match.group(1))

    def current_index(self) -> str | None:
        """The index the alias points to, or None before the first write."""
        with self._engine():
            try:
                targets = self.client.indices.get_alias(name=self.alias)
            except NotFoundError:
                return None
        return sorted(targets)[-1] if targets else None

    def ensure_index(self) -> str:
        """Create the first version behind the alias when there is none yet; returns the index."""
        with self._lock:
            current = self.current_index()
            if current is None:
                first = f"{self.alias}_v{FIRST_VERSION}"
                body = self.index_body()
                try:
                    with self._engine():
                        # Creating the index with its alias is one atomic step; a racing creator
                        # gets "already exists" and then finds the alias set by the winner.
                        self.client.indices.create(index=first, aliases={self.alias: {}}, **body)
                except BadRequestError as exc:
                    if exc.error != "resource_already_exists_exception":
                        raise
                current = self.current_index()
                if current is None:  # a leftover first version without the alias
                    with self._engine():
                        self.client.indices.put_alias(index=first, name=self.alias)
                    current = first
            self._ready = True
            return current

    def _ensure(self) -> None:
        if not self._ready:
            self.ensure_index()

    def refresh(self) -> None:
        """Make every acknowledged write visible to searches."""
        self._ensure()
        with self._engine():
            self.client.indices.refresh(index=self.alias)

    def compact(self) -> None:
        """Merge the live version into one segment, dropping replaced and deleted documents.

        Lucene's term statistics count deleted documents until a merge removes them, so after
        updates BM25 drifts slightly from the embedded index's; Elasticsearch keeps them for
        about 30 s after the writes (retention leases), so compact after a quiet period.
        """
        self._ensure()
        with self._engine():
            self.client.options(request_timeout=600).indices.forcemerge(
                index=self.alias, max_num_segments=1
            )
            self.client.indices.refresh(index=self.alias)

    def drop(self) -> None:
        """Delete the alias and every version (tests, uninstall)."""
        with self._engine():
            for name in self.versions():
                self.client.options(ignore_status=404).indices.delete(index=name)
        self._ready = False

    # -- writes ----------------------------------------------------------------------------
    @staticmethod
    def _source(doc: SearchDocument) -> dict[str, Any]:
        source = doc.to_source()
        field = token_field(doc.kind)
        if field != "tokens":
            source[field] = source.pop("tokens")
        # Cosine is undefined for a zero vector and Elasticsearch rejects it: keep the doc.
        if _is_nonzero(doc.vector):
            source["vector"] = list(doc.vector)
        return source

    def _bulk(self, actions: Iterable[dict[str, Any]], *, ignore_missing: bool = False) -> int:
        """Send actions in chunks with back-off on rejections; raise IndexWriteError on failures."""
        failed: dict[str, str] = {}
        done = 0
        with self._engine():
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=self.bulk_chunk_size,
                max_retries=self.bulk_max_retries,
                initial_backoff=self.bulk_initial_backoff,
                max_backoff=30,
                retry_on_status=(429, 503),
                raise_on_error=False,
                raise_on_exception=True,
            ):
                op, result = next(iter(item.items()))
                if ok or (ignore_missing and op == "delete" and result.get("status") == 404):
                    done += 1
                    continue
                error = result.get("error", result.get("status"))
                reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
                failed[str(result.get("_id"))] = reason
        if failed:
            ids = sorted(failed)
            shown = "、".join(ids[:10]) + ("……" if len(ids) > 10 else "")
            raise IndexWriteError(
                INDEX_WRITE_FAILED.format(count=len(ids), ids=shown), details=failed
            )
        return done

    def _maybe_refresh(self, refresh: bool | None) -> None:
        if self.refresh_writes if refresh is None else refresh:
            with self._engine():
                self.client.indices.refresh(index=self.alias)

    def upsert(self, docs: Sequence[SearchDocument], *, refresh: bool | None = None) -> None:
        """Add or replace documents (idempotent); searchable at once unless refresh=False."""
        if not docs:
            return
        self._ensure()
        self._bulk(
            {"_op_type": "index", "_index": self.alias, "_id": d.id, "_source": self._source(d)}
            for d in docs
        )
        self._maybe_refresh(refresh)

    def delete(self, doc_ids: Sequence[str], *, refresh: bool | None = None) -> None:
        """Remove documents; unknown ids are ignored."""
        if not doc_ids:
            return
        self._ensure()
        self._bulk(
            ({"_op_type": "delete", "_index": self.alias, "_id": i} for i in doc_ids),
            ignore_missing=True,
        )
        self._maybe_refresh(refresh)

    def _new_version_name(self) -> str:
        existing = set(self.versions())
        stamp = int(time.time() * 1_000_000)
        while f"{self.alias}_v{stamp}" in existing:
            stamp += 1
        return f"{self.alias}_v{stamp}"

    def rebuild(
        self,
        docs: Iterable[SearchDocument],
        total: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> str:
        """Load a new version, swap the alias to it in one request, delete older versions."""
        name = self._new_version_name()
        body = self.index_body()
        # Load without refreshes or replicas; replicas then copy the finished segments instead
        # of indexing every document (and building every HNSW graph) a second time.
        body["settings"].update(refresh_interval="-1", number_of_replicas=0)
        with self._engine():
            self.client.indices.create(index=name, **body)
        try:
            count = 0

            def actions() -> Iterator[dict[str, Any]]:
                nonlocal count
                for doc in docs:
                    count += 1
                    if progress:
                        progress(count)
                    yield {
                        "_op_type": "index",
                        "_index": name,
                        "_id": doc.id,
                        "_source": self._source(doc),
                    }

            self._bulk(actions())
            with self._engine():
                self.client.indices.put_settings(
                    index=name,
                    settings={
                        "index": {"refresh_interval": None, "number_of_replicas": self.replicas}
                    },
                )
                self.client.indices.refresh(index=name)
                if self.replicas:
                    # Swap only once the copies exist (or the wait times out: a cluster too small
                    # for its replicas stays yellow and is still served).
                    self.client.options(
                        request_timeout=self.replica_wait + 10, ignore_status=408
                    ).cluster.health(
                        index=name, wait_for_status="green", timeout=f"{self.replica_wait}s"
                    )
                previous = self.client.options(ignore_status=404).indices.get_alias(name=self.alias)
                old_targets = (
                    [n for n in previous.body if n != name] if previous.meta.status == 200 else []
                )
                swap: list[dict[str, Any]] = [{"add": {"index": name, "alias": self.alias}}]
                if old_targets:
                    swap.insert(0, {"remove": {"indices": old_targets, "alias": self.alias}})
                self.client.indices.update_aliases(actions=swap)
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.options(ignore_status=404).indices.delete(index=name)
            raise
        self._ready = True
        # Older versions: the previous targets and leftovers of interrupted rebuilds.
        newest = self._version_of(name)
        stale = set(old_targets) | {n for n in self.versions() if self._version_of(n) < newest}
        with self._engine():
            for old in sorted(stale):
                self.client.options(ignore_status=404).indices.delete(index=old)
        return name

    # -- reads -----------------------------------------------------------------------------
    @staticmethod
    def _filter_clauses(filters: Filters) -> list[dict[str, Any]]:
        return [
            {"terms": {f"filters.{name}": list(values)}} for name, values in filters.values.items()
        ]

    @staticmethod
    def _doc(hit: dict[str, Any]) -> SearchDocument:
        source = hit["_source"]
        if "tokens" not in source:
            source = {
                **source,
                "tokens": next((source[f] for f in TOKEN_FIELDS if f in source), ""),
            }
        return SearchDocument.from_source(source, source.get("vector"))

    def _search_body(self, query: dict[str, Any], size: int) -> dict[str, Any]:
        return {
            "query": query,
            "size": size,
            "sort": [{"_score": "desc"}, {"id": "asc"}],  # ties broken by id, deterministically
            "track_scores": True,
            "track_total_hits": False,
            "_source": {"excludes": ["vector"]},
        }

    def retrieve(
        self,
        *,
        tokens: list[str],
        specialty_weights: dict[str, float],
        vector: list[float] | None,
        filters: Filters,
        size: int,
    ) -> Retrieval:
        """Lexical, specialty and dense top lists in one msearch; see SearchBackend.retrieve."""
        size = max(0, min(size, MAX_WINDOW))
        filter_clauses = self._filter_clauses(filters)
        searches: list[tuple[str, dict[str, Any]]] = []
        query_tokens = list(dict.fromkeys(t for t in tokens if t and not t.isspace()))
        if query_tokens and size:
            text = " ".join(query_tokens)
            # Each document has one token field (base.token_field); its score is that field's BM25.
            match = {
                "bool": {
                    "should": [
                        {"match": {field: {"query": text, "operator": "or"}}}
                        for field in TOKEN_FIELDS
                    ],
                    "minimum_should_match": 1,
                }
            }
            searches.append(
                (
                    "lexical",
                    self._search_body({"bool": {"must": [match], "filter": filter_clauses}}, size),
                )
            )
        should = [
            {"constant_score": {"filter": {"term": {"specialties": s}}, "boost": float(w)}}
            for s, w in specialty_weights.items()
            if w > 0
        ]
        if should and size:
            # minimum_should_match: with a filter clause present, should clauses become optional.
            query = {
                "bool": {"should": should, "minimum_should_match": 1, "filter": filter_clauses}
            }
            searches.append(("specialty", self._search_body(query, size)))
        if self.vector_dims and _is_nonzero(vector) and size:
            knn = {
                "field": "vector",
                "query_vector": list(vector),
                "k": size,
                "num_candidates": min(max(100, 2 * size), MAX_WINDOW),
                "filter": filter_clauses,
            }
            body = self._search_body({"match_none": {}}, size)
            del body["query"]
            body["knn"] = knn
            searches.append(("dense", body))
        if not searches:
            return Retrieval(candidates=[], total=0, facets={})
        self._ensure()
        request: list[dict[str, Any]] = []
        for _, body in searches:
            request.extend(({"index": self.alias}, body))
        with self._engine():
            responses = self.client.msearch(searches=request)["responses"]
        lists: dict[str, list[dict[str, Any]]] = {}
        for (kind, _), response in zip(searches, responses, strict=True):
            if "error" in response:
                status = response.get("status", 500)
                if status in _UNAVAILABLE_STATUSES:
                    raise Unavailable(ENGINE_UNAVAILABLE, details=response["error"])
                raise RuntimeError(f"Elasticsearch {kind} search failed: {response['error']}")
            lists[kind] = response["hits"]["hits"]
        lexical = {h["_id"]: h["_score"] / LEGACY_BM25_FACTOR for h in lists.get("lexical", [])}
        dense = {h["_id"]: 2.0 * h["_score"] - 1.0 for h in lists.get("dense", [])}
        candidates: dict[str, Candidate] = {}
        for kind in ("lexical", "specialty", "dense"):
            for hit in lists.get(kind, []):
                if hit["_id"] not in candidates:
                    candidates[hit["_id"]] = Candidate(
                        doc=self._doc(hit),
                        lexical=float(lexical.get(hit["_id"], 0.0)),
                        dense=float(dense.get(hit["_id"], 0.0)),
                    )
        return Retrieval(candidates=list(candidates.values()), total=len(candidates), facets={})

    def browse(self, *, filters: Filters, offset: int, size: int) -> Retrieval:
        """Documents passing the filters by sort_key then id, their count and facet counts."""
        self._ensure()
        offset, size = max(0, offset), max(0, size)
        query = {"bool": {"filter": self._filter_clauses(filters)}}
        sort = [{"sort_key": "asc"}, {"id": "asc"}]
        aggs = {name: {"terms": {"field": f"filters.{name}", "size": 100}} for name in FACET_FIELDS}
        search_after = None
        with self._engine():
            if offset + size > MAX_WINDOW:
                # Deep pages: walk the sort order with search_after (from + size is capped).
                remaining = offset
                while remaining > 0:
                    step = min(remaining, MAX_WINDOW)
                    page = self.client.search(
                        index=self.alias,
                        query=query,
                        sort=sort,
                        size=step,
                        source=False,
                        track_total_hits=False,
                        search_after=search_after,
                    )
                    hits = page["hits"]["hits"]
                    if not hits:
                        break
                    search_after = hits[-1]["sort"]
                    remaining -= len(hits)
                offset = 0
            response = self.client.search(
                index=self.alias,
                query=query,
                sort=sort,
                from_=offset if search_after is None else None,
                search_after=search_after,
                size=min(size, MAX_WINDOW),
                track_total_hits=True,
                aggs=aggs,
                source_excludes=["vector"],
            )
        facets = {
            name: {b["key"]: b["doc_count"] for b in response["aggregations"][name]["buckets"]}
            for name in FACET_FIELDS
        }
        return Retrieval(
            candidates=[Candidate(doc=self._doc(h)) for h in response["hits"]["hits"]],
            total=response["hits"]["total"]["value"],
            facets=facets,
        )

    def get(self, doc_ids: Sequence[str]) -> dict[str, SearchDocument]:
        """Stored documents by id (with their vectors)."""
        if not doc_ids:
            return {}
        self._ensure()
        with self._engine():
            response = self.client.mget(index=self.alias, ids=list(dict.fromkeys(doc_ids)))
        return {d["_id"]: self._doc(d) for d in response["docs"] if d.get("found")}

    def count(self) -> int:
        """Number of searchable documents (as of the last refresh)."""
        self._ensure()
        with self._engine():
            return int(self.client.count(index=self.alias)["count"])

    def ping(self) -> bool:
        """True when the cluster answers and has its primaries (never raises). Each configured
        node gets one quick try, so one stopped node does not make the cluster look down."""
        try:
            health = self.client.options(
                request_timeout=2, max_retries=self.node_count - 1
            ).cluster.health()
        except Exception:
            return False
        return health.get("status") in ("green", "yellow")
