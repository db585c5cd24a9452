"""Threads that let one search use both cores: the encoder (ONNX Runtime) and numpy release the
GIL while they compute, so a query's independent pieces (its text and its clauses encoded, the
dense scan beside the lexical one) can run at once. The work and its results are the same as
run one after the other; only the wall time changes.

One pool per process, made on first use. It is larger than the number of cores because a web
server's request threads may each hand it a piece at the same time: a piece waiting for a
thread would wait longer than it takes to run inline.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

QUERY_THREADS = 4 * (os.cpu_count() or 1)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def query_pool() -> ThreadPoolExecutor:
    """The process's pool for a search's second piece of work."""
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="heart-query")
        return _pool
