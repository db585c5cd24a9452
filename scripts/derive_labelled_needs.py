"""Derive search/data/labelled_needs.jsonl from an eval set (queries + qrels + experts).

Each labelled need is {"text", "specialties"}: the specialties held by all of the query's
grade-2 experts (search.needs.query_specialty_labels). The file no longer refers to expert
ids, so the need model can learn from it whatever directory the hub holds.

    python scripts/derive_labelled_needs.py ../shared/eval/dev search/data/labelled_needs.jsonl
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from search.needs import query_specialty_labels


def main(eval_dir: Path, out: Path) -> None:
    experts = {}
    for line in (eval_dir / "experts.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        experts[record["id"]] = record["specialties"]
    qrels: dict[str, dict[str, int]] = {}
    with open(eval_dir / "qrels.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query_id"], {})[row["expert_id"]] = int(row["grade"])
    labels = query_specialty_labels(qrels, experts)
    with open(out, "w", encoding="utf-8") as sink:
        for line in (eval_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines():
            query = json.loads(line)
            if query["id"] in labels:
                sink.write(json.dumps({"text": query["text"], "specialties": labels[query["id"]]}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
