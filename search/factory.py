"""Build the configured search backend (and the embedded fallback) from Settings."""

from __future__ import annotations

from marketplace.settings import Settings
from search.base import SearchBackend
from search.embedded import EmbeddedIndex


def embedded_backend(settings: Settings, vector_dims: int | None) -> EmbeddedIndex:
    return EmbeddedIndex(settings.search_dir / "index", vector_dims=vector_dims)


def make_backend(settings: Settings, vector_dims: int | None) -> SearchBackend:
    """The primary backend named by HEART_SEARCH_BACKEND."""
    if settings.search_backend == "elasticsearch":
        from search.elastic import ElasticIndex

        return ElasticIndex.from_settings(settings, vector_dims=vector_dims)
    return embedded_backend(settings, vector_dims)


def make_fallback(settings: Settings, vector_dims: int | None) -> SearchBackend | None:
    """The embedded index that answers when Elasticsearch is down, if configured."""
    if settings.search_backend == "elasticsearch" and settings.search_fallback_embedded:
        return embedded_backend(settings, vector_dims)
    return None
