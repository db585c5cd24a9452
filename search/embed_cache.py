"""Caches of a rebuild's costly per-text work, keyed by (what made it, text hash).

Encoding is most of a first build's cost (bge-small-zh on 2 cores: tens of profiles a second)
and jieba segmentation most of a later one's; a rebuild after a small change meets almost only
texts it has met before. Both caches live in one SQLite file beside the index (stdlib sqlite3,
WAL, safe across the processes that share a data directory), a table each:

* ``vectors``: (model, text hash) -> float32 bytes, so a cached vector is exactly the one the
  encoder gave;
* ``tokens``: (analyzer fingerprint, text hash) -> the analyzer's tokens, so an analyzer with
  other user words or rules (another fingerprint) never reads them.

A full rebuild asks for every text the directory still has, so it sweeps the rest: between
:meth:`begin_sweep` and :meth:`end_sweep` a table notes each key asked for, and the end drops
the entries of texts no longer asked for and of other models or analyzers (a cache of 100k
profiles holds ~200 MB of vectors per model and ~100 MB of tokens).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from search.encoder import Encoder

_CHUNK = 500  # keys per SQL statement (SQLite's variable limit is 32,766 on 3.32+)
_TOKEN_SEPARATOR = "\x1f"  # noqa: S105 (not a secret: tokens are letters and digits, never this)


def text_hash(text: str) -> bytes:
    """The cache key of a text (16 bytes of SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class _KeyedBlobs:
    """One table (space, text hash) -> bytes of the cache file, with its sweep. A space is what
    made the value (an encoder model, an analyzer fingerprint): a sweep keeps only one."""

    TABLE = ""
    SPACE = ""
    VALUE = ""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.TABLE} ({self.SPACE} TEXT NOT NULL, "
            f"text_hash BLOB NOT NULL, {self.VALUE} BLOB NOT NULL, "
            f"PRIMARY KEY ({self.SPACE}, text_hash)) WITHOUT ROWID"
        )
        self._db.commit()
        self._sweep: set[tuple[str, bytes]] | None = None  # keys asked for since begin_sweep

    def _get(self, space: str, keys: list[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        with self._lock:
            if self._sweep is not None:
                self._sweep.update((space, k) for k in keys)
            for start in range(0, len(keys), _CHUNK):
                part = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT text_hash, {self.VALUE} FROM {self.TABLE} "  # noqa: S608 (constant names, placeholders)
                    f"WHERE {self.SPACE} = ? AND text_hash IN ({marks})",
                    [space, *part],
                ).fetchall()
                for key, blob in rows:
                    found[bytes(key)] = blob
        return found

    def _put(self, space: str, rows: list[tuple[bytes, bytes]]) -> None:
        if not rows:
            return
        with self._lock:
            self._db.executemany(
                f"INSERT OR REPLACE INTO {self.TABLE} ({self.SPACE}, text_hash, {self.VALUE}) "  # noqa: S608 (constant names)
                "VALUES (?, ?, ?)",
                [(space, key, value) for key, value in rows],
            )
            self._db.commit()

    def count(self, space: str | None = None) -> int:
        """Cached entries (of one model or analyzer, or all)."""
        with self._lock:
            if space is None:
                row = self._db.execute(f"SELECT COUNT(*) FROM {self.TABLE}").fetchone()  # noqa: S608
            else:
                row = self._db.execute(
                    f"SELECT COUNT(*) FROM {self.TABLE} WHERE {self.SPACE} = ?",  # noqa: S608
                    [space],
                ).fetchone()
        return int(row[0])

    def prune(self, space: str, keep: set[bytes]) -> int:
        """Drop the entries of `space` whose key is not in `keep`; returns how many."""
        with self._lock:
            stored = [
                bytes(r[0])
                for r in self._db.execute(
                    f"SELECT text_hash FROM {self.TABLE} WHERE {self.SPACE} = ?",  # noqa: S608
                    [space],
                )
            ]
            gone = [k for k in stored if k not in keep]
            self._db.executemany(
                f"DELETE FROM {self.TABLE} WHERE {self.SPACE} = ? AND text_hash = ?",  # noqa: S608
                [(space, k) for k in gone],
            )
            self._db.commit()
        return len(gone)

    def begin_sweep(self) -> None:
        """Start noting the keys asked for (a full rebuild is about to read every text)."""
        with self._lock:
            self._sweep = set()

    def end_sweep(self, space: str, *, prune: bool = True) -> int:
        """Stop noting; with `prune`, drop every entry not asked for since :meth:`begin_sweep`
        (texts no longer in the directory, and all entries of other spaces). Returns how many."""
        with self._lock:
            asked, self._sweep = self._sweep, None
        if not prune or asked is None:
            return 0
        keep = {key for s, key in asked if s == space}
        with self._lock:
            others = self._db.execute(
                f"DELETE FROM {self.TABLE} WHERE {self.SPACE} != ?",  # noqa: S608
                [space],
            ).rowcount
            self._db.commit()
        return others + self.prune(space, keep)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class EmbeddingCache(_KeyedBlobs):
    """A persistent map (model, text hash) -> float32 vector."""

    TABLE, SPACE, VALUE = "vectors", "model", "vector"

    def get_many(self, model: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among `keys`."""
        return {
            key: np.frombuffer(blob, dtype=np.float32)
            for key, blob in self._get(model, keys).items()
        }

    def put_many(self, model: str, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        """Store vectors (an existing key is overwritten)."""
        self._put(model, [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items])


def _tokens(blob: bytes) -> list[str]:
    return blob.decode("utf-8").split(_TOKEN_SEPARATOR) if blob else []


class TokenCache(_KeyedBlobs):
    """A persistent map (analyzer fingerprint, text hash) -> tokens: the analyzer's
    :class:`search.analysis.TokenMemory`."""

    TABLE, SPACE, VALUE = "tokens", "analyzer", "tokens"

    def recall(self, space: str, texts: Sequence[str]) -> list[list[str] | None]:
        keys = [text_hash(t) for t in texts]
        found = self._get(space, list(dict.fromkeys(keys)))
        return [_tokens(found[key]) if key in found else None for key in keys]

    def remember(self, space: str, pairs: Sequence[tuple[str, list[str]]]) -> None:
        self._put(
            space,
            [(text_hash(t), _TOKEN_SEPARATOR.join(tokens).encode("utf-8")) for t, tokens in pairs],
        )


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
