"""Embedding cache: vectors keyed by (model, text hash), so a rebuild encodes only new text.

Encoding is most of a rebuild's cost (bge-small-zh on 2 cores: tens of profiles a second), and
a rebuild after a small change meets almost only texts it has encoded before. The cache is one
SQLite file beside the index (stdlib sqlite3, WAL, safe across the processes that share a data
directory); a vector is stored as float32 bytes, so a cached vector is exactly the one the
encoder gave. A full rebuild asks for every text the directory still has, so it sweeps the rest:
between :meth:`begin_sweep` and :meth:`end_sweep` the cache notes each key asked for, and the
end drops the entries of texts no longer asked for and of other models (a cache of 100k
profiles holds ~200 MB per model).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from search.encoder import Encoder

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SQL statement (SQLite's variable limit is 32,766 on 3.32+)


def text_hash(text: str) -> bytes:
    """The cache key of a text (16 bytes of SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class EmbeddingCache:
    """A persistent map (model, text hash) -> float32 vector."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._sweep: set[tuple[str, bytes]] | None = None  # keys asked for since begin_sweep

    def get_many(self, model: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among `keys`."""
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            if self._sweep is not None:
                self._sweep.update((model, k) for k in keys)
            for start in range(0, len(keys), _CHUNK):
                part = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT text_hash, vector FROM vectors WHERE model = ? AND text_hash IN ({marks})",  # noqa: S608 (placeholders only)
                    [model, *part],
                ).fetchall()
                for key, blob in rows:
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        """Store vectors (an existing key is overwritten)."""
        rows = [(model, key, np.asarray(v, dtype=np.float32).tobytes()) for key, v in items]
        if not rows:
            return
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, text_hash, vector) VALUES (?, ?, ?)", rows
            )
            self._db.commit()

    def count(self, model: str | None = None) -> int:
        """Cached vectors (of one model, or all)."""
        with self._lock:
            if model is None:
                return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM vectors WHERE model = ?", [model]
                ).fetchone()[0]
            )

    def prune(self, model: str, keep: set[bytes]) -> int:
        """Drop the vectors of `model` whose key is not in `keep`; returns how many."""
        with self._lock:
            stored = [
                bytes(r[0])
                for r in self._db.execute("SELECT text_hash FROM vectors WHERE model = ?", [model])
            ]
            gone = [k for k in stored if k not in keep]
            self._db.executemany(
                "DELETE FROM vectors WHERE model = ? AND text_hash = ?", [(model, k) for k in gone]
            )
            self._db.commit()
        return len(gone)

    def begin_sweep(self) -> None:
        """Start noting the keys asked for (a full rebuild is about to read every text)."""
        with self._lock:
            self._sweep = set()

    def end_sweep(self, model: str, *, prune: bool = True) -> int:
        """Stop noting; with `prune`, drop every entry not asked for since :meth:`begin_sweep`
        (texts no longer in the directory, and all vectors of other models). Returns how many."""
        with self._lock:
            asked, self._sweep = self._sweep, None
        if not prune or asked is None:
            return 0
        keep = {key for m, key in asked if m == model}
        with self._lock:
            others = self._db.execute("DELETE FROM vectors WHERE model != ?", [model]).rowcount
            self._db.commit()
        return others + self.prune(model, keep)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedEncoder:
    """An encoder that answers known texts from an :class:`EmbeddingCache` and encodes only the
    rest (in one batch call, so the wrapped encoder can sort them by length and use its
    threads). Counts what it encoded and what it found, for progress reports and benchmarks."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache) -> None:
        self.name, self.dims = encoder.name, encoder.dims
        self._encoder = encoder
        self._cache = cache
        self.encoded = 0
        self.reused = 0

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        keys = [text_hash(t) for t in texts]
        found = self._cache.get_many(self.name, list(dict.fromkeys(keys)))
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found and key not in missing:
                missing[key] = text
        if missing:
            fresh = self._encoder.encode(list(missing.values()), batch_size=batch_size)
            new = dict(zip(missing, fresh, strict=True))
            self._cache.put_many(self.name, new.items())
            found.update(new)
        self.encoded += len(missing)
        self.reused += len(texts) - len(missing)
        return np.asarray([found[k] for k in keys], dtype=np.float32)
