"""What a wrapped message costs the encoder, and what batching its texts would change.

    python benchmarks/query_encoding.py [--model bge-small-zh-v1.5-int8] [--queries 100]

The need reader encodes three things per message of several clauses: the message (dense
retrieval and the message's own reading), its clauses (already one encoder call: one batch,
padded to the longest clause) and the stripped need text (known only after the clauses are
read). For the wrapped dev messages (benchmarks/wrapped_needs.py) this prints the median ms of

* the message alone, the clause batch, the clauses one call each;
* the message and its clauses in ONE call (one batch: every clause padded to the message);

and, for the int8 model, how far a clause's vector moves when it is encoded in the batch rather
than alone (onnxruntime's dynamic quantisation scales activations over the whole batch,
padding included, so any change of batch composition moves the vectors, hence the ranking).
Baseline: the calls as the need reader makes them today. Time it at priority
(`setsid -w sh -c 'echo -5 > /proc/self/autogroup; exec python benchmarks/query_encoding.py'`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.search import DEV, load_jsonl, loadavg  # noqa: E402
from benchmarks.search_quality import load_qrels  # noqa: E402
from benchmarks.wrapped_needs import wrap_queries  # noqa: E402


def median_ms(run, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bge-small-zh-v1.5-int8")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    from search.encoder import load_encoder  # noqa: PLC0415
    from search.needs import split_clauses  # noqa: PLC0415

    encoder = load_encoder(args.model)
    assert encoder is not None
    dev = {q["id"]: q["text"] for q in load_jsonl(DEV / "queries.jsonl")}
    qrels = load_qrels(DEV / "qrels.tsv")
    messages = [
        m for m in wrap_queries(dev, qrels, seed=args.seed)[0].values() if len(split_clauses(m)) > 1
    ][: args.queries]
    print(f"# {encoder.name}, {len(messages)} wrapped messages; load average {loadavg()}")
    encoder.encode(messages[:5])  # warm-up
    rows: dict[str, list[float]] = {k: [] for k in ("message", "batch", "singles", "together")}
    moved = []
    for message in messages:
        clauses = split_clauses(message)
        rows["message"].append(median_ms(lambda m=message: encoder.encode([m])))
        rows["batch"].append(median_ms(lambda c=clauses: encoder.encode(c)))
        rows["singles"].append(median_ms(lambda c=clauses: [encoder.encode([x]) for x in c]))
        rows["together"].append(
            median_ms(lambda m=message, c=clauses: encoder.encode([m, *c], batch_size=64), 1)
        )
        alone = np.stack([encoder.encode([c])[0] for c in clauses])
        moved.append(float(np.abs(encoder.encode(clauses) - alone).max()))
    labels = {
        "message": "the message alone (today)",
        "batch": "its clauses, one batch (today)",
        "singles": "its clauses, one call each",
        "together": "message + clauses in one call",
    }
    for key, label in labels.items():
        print(f"  {label:<34} p50 {statistics.median(rows[key]):7.1f} ms")
    print(
        f"  a clause's vector, batch vs alone: max |difference| median {statistics.median(moved):.4f}"
        f", max {max(moved):.4f} (cosine scores move by about as much)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
