"""`heart index`, `heart search` and `heart eval search`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from marketplace.db import make_engine
from marketplace.errors import DomainError
from search.metrics import mean, ndcg_at_k, precision_at_k, recall_at_k
from search.service import SearchRequest, SearchService
from web.cli.common import console, fail, load_settings, progress_bar

eval_app = typer.Typer(help="评估 / evaluation", no_args_is_help=True)


def _service():  # type: ignore[no-untyped-def]

    settings = load_settings()
    engine = make_engine(settings)
    return SearchService(settings=settings, engine=engine), engine


def index_command(
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild", help="重建索引（新版本 + 原子切换）/ full rebuild with an atomic swap"
        ),
    ] = False,
    drain: Annotated[
        bool, typer.Option("--drain", help="只处理待同步队列 / only apply pending outbox changes")
    ] = False,
    status: Annotated[
        bool,
        typer.Option("--status", help="查看索引状态 / documents, pending changes, need model"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / JSON output")] = False,
) -> None:
    """索引：补齐缺失的需求模型、目录变化较大时重训、同步变更 / keep the index whole.

    Without options: a data dir without a need model gets a full rebuild; a need model that
    has not read a measured share of the directory is retrained; pending changes are applied.
    """

    service, engine = _service()
    try:
        if status:
            _print_status(service.status(), as_json)
            return
        if rebuild:
            with progress_bar() as progress:
                task = progress.add_task("重建索引 / rebuilding", total=None)
                result = service.rebuild(
                    lambda done, total: progress.update(task, completed=done, total=total)
                )
            console.print(
                f"索引已重建 / rebuilt: {result['versions']}  权重 / weights: {result['weights']}"
            )
        elif drain:
            with progress_bar() as progress:
                task = progress.add_task("同步变更 / draining", total=None)
                report = service.drain(lambda done: progress.update(task, completed=done))
            console.print(
                f"已同步 {report.events} 条变更（更新 {report.upserted}，删除 {report.deleted}）/ drained"
            )
        else:
            with progress_bar() as progress:
                task = progress.add_task("检查索引 / checking", total=None)
                result = service.ensure_whole(
                    progress=lambda done, total: progress.update(task, completed=done, total=total)
                )
            if result["action"] == "reencode":
                console.print(
                    f"向量模型已更换（{result['reason']}），已完整重建索引"
                    f" / encoder changed: rebuilt {result['versions']}"
                )
            elif result["action"] == "rebuild":
                console.print(
                    "尚无需求模型，已完整重建索引 / no need model yet: rebuilt "
                    f"{result['versions']}"
                )
            else:
                if result["action"] == "retrain":
                    console.print(
                        f"目录已变化 {result['drift']:.1%}，已重新训练需求模型 / need model retrained"
                    )
                console.print(f"已同步 {result['drained']} 条变更 / drained")
    except DomainError as exc:
        raise fail(exc.message, 3) from None
    finally:
        engine.dispose()


def _print_status(status: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(status, ensure_ascii=False) + "\n")
        return
    docs = "，".join(
        f"{name} {count if count is not None else '不可用'}"
        for name, count in status["documents"].items()
    )
    console.print(f"文档 / documents: {docs}")
    console.print(f"待同步变更 / pending: {status['pending']}")
    model = status["need_model"]
    if model is None:
        console.print("需求模型 / need model: 无（运行 heart index 构建）")
    else:
        heldout = model.get("heldout") or {}
        figure = (
            f"留出需求 {heldout['needs']} 条 top1 {heldout['top1']:.0%} top3 {heldout['top3']:.0%}"
            if heldout
            else "无标注需求可评估"
        )
        drift = model.get("drift")
        console.print(
            f"需求模型 / need model: 版本 {model.get('version')}，训练于 {model.get('trained_at')}"
            f"（{model.get('age_hours', 0):.1f} 小时前），专家 {model.get('experts')}，"
            f"样本 {model.get('examples')}，{figure}；目录变化 "
            f"{'未知' if drift is None else f'{drift:.1%}'}（阈值 {model['drift_threshold']:.0%}）"
        )
    encoder = status["encoder"]
    console.print(
        f"向量模型 / encoder: 设置 {encoder['setting']}，索引向量 "
        f"{encoder['index_vectors'] or '无'}（{encoder['dims'] or 0} 维），"
        f"缓存向量 {encoder['cached_vectors']}"
    )


def _hits_json(response) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"id": h.id, "score": h.score} for h in response.hits]


def search_command(
    text: Annotated[
        str | None, typer.Argument(help="需求描述 / the need, in your own words")
    ] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help="批量查询 JSONL（id, text）/ batch queries")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=200, help="返回条数 / hits per query")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / JSON output")] = False,
    kind: Annotated[str, typer.Option("--kind", help="expert | service")] = "expert",
    domain: Annotated[str | None, typer.Option(help="领域 / domain")] = None,
    specialty: Annotated[str | None, typer.Option(help="专长 / specialty")] = None,
    city: Annotated[str | None, typer.Option(help="城市 / city")] = None,
    district: Annotated[str | None, typer.Option(help="区县 / district")] = None,
    format: Annotated[str | None, typer.Option("--format", help="online | onsite")] = None,
    service_type: Annotated[str | None, typer.Option(help="服务类型 / service type")] = None,
) -> None:
    """搜索专家与服务 / search experts and procured services."""

    if text is None and queries is None:
        raise fail("请给出查询文本或 --queries 文件 / give a query or --queries FILE", 2)
    if queries is not None and not queries.is_file():
        raise fail(f"找不到文件 / file not found: {queries}", 2)
    service, engine = _service()
    filters = dict(
        kind=kind,
        domain=domain,
        specialty=specialty,
        city=city,
        district=district,
        format=format,
        service_type=service_type,
    )
    try:
        if queries is not None:
            for number, line in enumerate(
                queries.read_text(encoding="utf-8").splitlines(), start=1
            ):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    query_id, query_text = item["id"], str(item["text"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    console.print(f"[yellow]第 {number} 行不是 {{id, text}} 对象，已跳过[/yellow]")
                    continue
                response = service.search(SearchRequest(q=query_text, page_size=limit, **filters))
                sys.stdout.write(
                    json.dumps(
                        {"query_id": query_id, "hits": _hits_json(response)}, ensure_ascii=False
                    )
                    + "\n"
                )
            return
        response = service.search(SearchRequest(q=text or "", page_size=limit, **filters))
        if not response.total:  # an empty index is said so, never passed off as "no match"
            gap = service.index_gap_error(can_index=True)
            if gap is not None:
                raise gap
        if as_json:
            sys.stdout.write(
                json.dumps(
                    {"query": text, "total": response.total, "hits": _hits_json(response)},
                    ensure_ascii=False,
                )
                + "\n"
            )
            return
        console.print(f"共 {response.total} 条 / {response.total} results（{response.backend}）")
        for rank, hit in enumerate(response.hits, start=1):
            console.print(f"{rank:>2}. [bold]{hit.id}[/bold] {hit.title}  {hit.score:.3f}")
            if hit.reasons:
                console.print("    " + " · ".join(hit.reasons))
    except DomainError as exc:
        raise fail(exc.message, 3) from None
    finally:
        engine.dispose()


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query_id"], {})[row["expert_id"]] = int(row["grade"])
    return qrels


@eval_app.command("search", help="检索质量：nDCG@10、recall@50、P@5 / retrieval quality")
def eval_search(
    queries: Annotated[Path, typer.Option("--queries", help="queries.jsonl")],
    qrels: Annotated[Path, typer.Option("--qrels", help="qrels.tsv")],
) -> None:

    for path in (queries, qrels):
        if not path.is_file():
            raise fail(f"找不到文件 / file not found: {path}", 2)
    judgements = read_qrels(qrels)
    service, engine = _service()
    ndcg, recall, precision = [], [], []
    try:
        for line in queries.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["id"] not in judgements:
                continue
            response = service.search(SearchRequest(q=item["text"], page_size=50))
            ranking = [h.id for h in response.hits]
            grades = judgements[item["id"]]
            ndcg.append(ndcg_at_k(ranking, grades, 10))
            recall.append(recall_at_k(ranking, grades, 50))
            precision.append(precision_at_k(ranking, grades, 5))
    finally:
        engine.dispose()
    result = {
        "queries": len(ndcg),
        "ndcg@10": round(mean(ndcg), 4),
        "recall@50": round(mean(recall), 4),
        "p@5": round(mean(precision), 4),
    }
    console.print(
        f"查询 {result['queries']} 条 · nDCG@10 {result['ndcg@10']:.4f} · recall@50 {result['recall@50']:.4f} · P@5 {result['p@5']:.4f}"
    )
    sys.stdout.write(json.dumps(result) + "\n")


def register(app: typer.Typer) -> None:
    app.command("index", help="索引：同步或重建搜索索引 / sync or rebuild the search index")(
        index_command
    )
    app.command("search", help="搜索专家与服务 / search experts and services")(search_command)
    app.add_typer(eval_app, name="eval")
