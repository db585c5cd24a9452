"""The relevance floor (search/floor.py) on the dev needs: what it costs and what it catches.

    python benchmarks/search_floor.py [--data-dir DIR] [--experts F --queries F --qrels F]

Builds (or reuses, with --data-dir holding a built index) the product's embedded index over the
dev experts, then runs every dev need through SearchService.search with the floor on and off
and prints nDCG@10 both ways (the floor must cost less than 0.01), the false "no match" rate on
the dev needs (target at most 2%) and how many of a fixed list of out-of-domain queries the
floor answers with "no match". Uses the environment's HEART_EMBED_MODEL (default here: none).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketplace.db import make_engine  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from search import floor  # noqa: E402
from search.metrics import mean, ndcg_at_k  # noqa: E402
from search.service import SearchRequest, SearchService  # noqa: E402

DEV = next(
    (
        p / "shared" / "eval" / "dev"
        for p in ROOT.parents
        if (p / "shared" / "eval" / "dev").exists()
    ),
    ROOT.parent / "shared" / "eval" / "dev",
)
OUT_OF_DOMAIN = [
    "量子力学",
    "asdfgh",
    "😀😀😀😀😀",
    "qwerty uiop",
    "今天天气怎么样",
    "我想买一台笔记本电脑",
    "股票基金怎么投资",
    "足球比赛比分",
    "红烧肉的做法",
    "汽车保养多少钱",
    "xyz",
    "🙂🙃",
    "Python 编程教程",
    "房价会不会跌",
    "火星探测器",
    "区块链技术",
    "zzzzzz",
    "量子纠缠实验",
    "苹果手机换电池",
    "高等数学微积分",
]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query_id"], {})[row["expert_id"]] = int(row["grade"])
    return qrels


def build(data_dir: Path, experts: Path) -> None:
    from web.cli.common import build_search_index, initialise, run_import

    settings = Settings()
    initialise(settings)
    if run_import(settings, experts, strict=True):
        raise SystemExit("import failed")
    build_search_index(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--experts", type=Path, default=DEV / "experts.jsonl")
    parser.add_argument("--queries", type=Path, default=DEV / "queries.jsonl")
    parser.add_argument("--qrels", type=Path, default=DEV / "qrels.tsv")
    args = parser.parse_args()
    os.environ.setdefault("HEART_EMBED_MODEL", "none")
    os.environ.setdefault("HEART_ENVIRONMENT", "development")
    os.environ.setdefault("HEART_SECRET_KEY", "benchmark-only-" + "k" * 32)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="heart-floor-"))
    os.environ["HEART_DATA_DIR"] = str(data_dir)
    if not (data_dir / "heart.db").exists():
        build(data_dir, args.experts)
    settings = Settings()
    engine = make_engine(settings)
    service = SearchService(settings=settings, engine=engine)
    queries = [json.loads(line) for line in open(args.queries, encoding="utf-8")]
    qrels = read_qrels(args.qrels)

    def run(text: str) -> tuple[list[str], bool]:
        found = service.search(SearchRequest(q=text, kind="expert", page_size=10))
        return [h.id for h in found.hits], found.no_match

    with_floor = [run(q["text"]) for q in queries]
    original = floor.is_no_match
    floor.is_no_match = lambda tokens, candidates, needs, lookup=0.0: not tokens  # floor off
    try:
        without = [run(q["text"]) for q in queries]
    finally:
        floor.is_no_match = original
    ndcg_on = mean(
        [
            ndcg_at_k(ids, qrels.get(q["id"], {}), 10)
            for q, (ids, _) in zip(queries, with_floor, strict=True)
        ]
    )
    ndcg_off = mean(
        [
            ndcg_at_k(ids, qrels.get(q["id"], {}), 10)
            for q, (ids, _) in zip(queries, without, strict=True)
        ]
    )
    refused = [q["id"] for q, (_, no) in zip(queries, with_floor, strict=True) if no]
    caught = [text for text in OUT_OF_DOMAIN if run(text)[1]]
    print(f"dev needs: {len(queries)}  experts index: {data_dir}")
    print(
        f"nDCG@10 floor off (baseline) {ndcg_off:.4f}  floor on {ndcg_on:.4f}  "
        f"difference {ndcg_on - ndcg_off:+.4f}  ratio {ndcg_on / ndcg_off:.4f}"
    )
    print(
        f"false no-match on dev needs: {len(refused)}/{len(queries)} = "
        f"{len(refused) / len(queries):.2%} {refused}"
    )
    print(
        f"out-of-domain answered no-match: {len(caught)}/{len(OUT_OF_DOMAIN)}; missed: "
        f"{[t for t in OUT_OF_DOMAIN if t not in caught]}"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
