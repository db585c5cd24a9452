"""The search interface shared by the embedded index and Elasticsearch.

Backends store documents and retrieve candidates with raw signals (BM25 over the hub's own
segmented tokens, dense similarity, the document's specialties); ranking (fusion, reasons) is
done once, in search/service.py, so both backends rank alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Filterable document fields; values of list fields match when any element equals the filter.
FILTER_FIELDS = (
    "kind",
    "domain",
    "specialties",
    "city",
    "district",
    "formats",
    "service_types",
    "languages",
    "status",
    # Resources (the library): their kind, audiences, and who may read them ("all",
    # "center:<id>" for the region of the publishing center, "staff:<id>" for staff).
    "resource_kind",
    "audiences",
    "access",
)
FACET_FIELDS = (
    "domain",
    "specialties",
    "city",
    "formats",
    "service_types",
    "resource_kind",
    "audiences",
)
# Library resources are matched on a token field of their own, so that their words never change
# the BM25 collection statistics (document frequencies, average length) of experts and services:
# adding material to the library leaves the expert ranking exactly as it was.
TOKEN_FIELDS = ("tokens", "resource_tokens")


def token_field(kind: str) -> str:
    """The token field a document of `kind` is matched on."""
    return "resource_tokens" if kind == "resource" else "tokens"


@dataclass
class SearchDocument:
    """One indexed record (an expert, a procured service or a library resource), derived from
    the database."""

    id: str  # "<kind>:<record id>", unique across kinds
    kind: str  # "expert" | "service" | "resource"
    record_id: str
    title: str
    text: str  # the display text (bio / description), used for snippets
    tokens: list[str]  # segmented tokens of everything searchable (shared analysis)
    specialties: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    vector: list[float] | None = None
    sort_key: str = ""

    def to_source(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "record_id": self.record_id,
            "title": self.title,
            "text": self.text,
            "tokens": " ".join(self.tokens),
            "specialties": self.specialties,
            "filters": self.filters,
            "sort_key": self.sort_key,
        }

    @classmethod
    def from_source(cls, source: dict, vector: list[float] | None = None) -> SearchDocument:
        return cls(
            id=source["id"],
            kind=source["kind"],
            record_id=source["record_id"],
            title=source["title"],
            text=source["text"],
            tokens=source["tokens"].split(),
            specialties=list(source.get("specialties", [])),
            filters={k: list(v) for k, v in source.get("filters", {}).items()},
            vector=vector,
            sort_key=source.get("sort_key", ""),
        )


@dataclass(frozen=True)
class Filters:
    """Exact-match filters: field → accepted values (any of)."""

    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, **kwargs: str | Sequence[str] | None) -> Filters:
        clean: dict[str, tuple[str, ...]] = {}
        for key, value in kwargs.items():
            if value is None or value == "" or value == []:
                continue
            if key not in FILTER_FIELDS:
                raise ValueError(f"unknown filter {key}")
            clean[key] = (value,) if isinstance(value, str) else tuple(value)
        return cls(clean)

    def matches(self, doc_filters: dict[str, list[str]]) -> bool:
        return all(
            set(accepted) & set(doc_filters.get(key, ())) for key, accepted in self.values.items()
        )


@dataclass
class Candidate:
    """A retrieved document with its raw signals."""

    doc: SearchDocument
    lexical: float = 0.0
    dense: float = 0.0


@dataclass
class Retrieval:
    candidates: list[Candidate]
    total: int  # documents passing the filters (for browse) or matched (for text)
    facets: dict[str, dict[str, int]]


class SearchBackend(Protocol):
    """Storage and candidate retrieval; implemented by EmbeddedIndex and ElasticIndex."""

    name: str

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents (idempotent)."""

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Remove documents; unknown ids are ignored."""

    def rebuild(
        self,
        docs: Iterable[SearchDocument],
        total: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> str:
        """Build a new index version from scratch and switch to it atomically; returns its name."""

    def retrieve(
        self,
        *,
        tokens: list[str],
        specialty_weights: dict[str, float],
        vector: list[float] | None,
        filters: Filters,
        size: int,
    ) -> Retrieval:
        """Candidates for a query, the same in every backend.

        Among documents passing `filters`: (1) the top `size` by BM25 (Lucene variant, k1 1.2,
        b 0.75) of `tokens` against the document tokens; (2) the top `size` by the sum of
        `specialty_weights` of the specialties a document holds; (3) when `vector` is given, the
        top `size` by cosine similarity. The union by id is returned; a candidate's `lexical`
        is its BM25 score if it was in list (1), else 0, and `dense` its cosine if in list (3),
        else 0. `total` is the size of the union; `facets` may be empty (the service counts them).
        """

    def browse(self, *, filters: Filters, offset: int, size: int) -> Retrieval:
        """Documents passing the filters in browse order (empty query)."""

    def get(self, doc_ids: Sequence[str]) -> dict[str, SearchDocument]:
        """Stored documents by id."""

    def count(self) -> int:
        """Number of documents."""

    def ping(self) -> bool:
        """True when the backend can answer."""
