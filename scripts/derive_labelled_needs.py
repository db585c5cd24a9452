"""Derive search/data/labelled_needs.jsonl from an eval set (queries + qrels + experts), and
with a third argument matching/data/service_type_prior.json from its requests.

Each labelled need is {"text", "specialties"}: the specialties held by all of the query's
grade-2 experts (search.needs.query_specialty_labels). The file no longer refers to expert
ids, so the need model can learn from it whatever directory the hub holds. The service-type
prior counts, per service type of the labelled requests (requests.jsonl +
requests_qrels_map.tsv), the specialty each calls for (matching.priors).

    python scripts/derive_labelled_needs.py ../shared/eval/dev search/data/labelled_needs.jsonl \
        matching/data/service_type_prior.json
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from matching.priors import ServiceTypePrior
from search.needs import query_specialty_labels


def main(eval_dir: Path, out: Path, prior_out: Path | None = None) -> None:
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
                sink.write(
                    json.dumps(
                        {"text": query["text"], "specialties": labels[query["id"]]},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    if prior_out is not None:
        with open(eval_dir / "requests_qrels_map.tsv", encoding="utf-8") as handle:
            query_of = {
                row["request_id"]: row["query_id"] for row in csv.DictReader(handle, delimiter="\t")
            }
        pairs = []
        for line in (eval_dir / "requests.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                request = json.loads(line)
                specialties = labels.get(query_of.get(request["id"], ""), [])
                pairs += [(request["service_type"], s) for s in specialties[:1]]
        vocabulary = {s for specs in experts.values() for s in specs}
        prior = ServiceTypePrior.from_labels(pairs, len(vocabulary))
        data = {"source": f"{eval_dir.name}: {len(pairs)} labelled requests", **prior.to_json()}
        prior_out.write_text(
            json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
