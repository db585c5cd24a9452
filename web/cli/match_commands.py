"""`heart match`: match a request file (or the database's open requests) against the experts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col, select

from marketplace.db import make_engine, session_scope
from marketplace.errors import DomainError
from marketplace.requests.models import DistrictRequest
from matching.batch import Assigned, BatchResult, Progress, Unserved
from matching.scoring import PairExplanation
from matching.service import (
    RelevanceFactory,
    match_lines,
    relevance_factory_for,
    run_batch,
    run_view,
)
from web.cli.common import CLI, console, fail, load_settings, progress_bar

PROGRESS_FROM = 200  # show a progress bar from this many requests on


def _print_summary(result: BatchResult, notes: list[str]) -> None:

    for note in notes:
        console.print(f"[yellow]注意 / note：[/yellow]{note}")
    stats = result.stats
    table = Table(title="匹配结果 / matching result")
    for column in ("申请 request", "专家 experts", "分数 score", "理由 reasons"):
        table.add_column(column)
    for a in result.assignments:
        table.add_row(a.need_id, "、".join(a.expert_ids), f"{a.score:.3f}", "\n".join(a.reasons))
    for u in result.unassigned:
        table.add_row(u.need_id, "—", "—", f"[red]未匹配：{u.reason}[/red]")
    Console(file=sys.stdout).print(table)
    console.print(
        f"申请 {stats.get('requests', 0)} · 已匹配 {len(result.assignments)} · 未匹配 {len(result.unassigned)}"
        f" · 名额 {stats.get('filled', 0)}/{stats.get('slots', 0)} · 总亲和度 {stats.get('total_affinity', 0)}"
    )


def match_command(
    requests: Annotated[
        Path | None,
        typer.Option(
            "--requests",
            help="申请 JSONL 文件（不填则匹配数据库中已提交的申请）/ request JSONL file",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / print JSON")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="把 JSON 结果写入文件 / write the JSON result here")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="solver（默认，最优）或 greedy")
    ] = "solver",
) -> None:
    """批量匹配 / match district requests to experts."""

    if method not in ("solver", "greedy"):
        raise fail("--method 只能是 solver 或 greedy", 2)
    lines: list[str] | None = None
    if requests is not None:
        if str(requests) != "-" and not requests.is_file():
            raise fail(f"找不到文件 / file not found: {requests}", 2)
        try:
            text = (
                sys.stdin.read() if str(requests) == "-" else requests.read_text(encoding="utf-8")
            )
        except UnicodeDecodeError:
            raise fail("文件不是 UTF-8 编码 / file is not UTF-8", 2) from None
        lines = text.splitlines()
    settings = load_settings()
    engine = make_engine(settings)
    factory = relevance_factory_for(settings)
    notes: list[str] = []
    try:
        with progress_bar() as progress, session_scope(engine) as session:
            task = progress.add_task("匹配 / matching", total=None, visible=False)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, visible=total >= PROGRESS_FROM)

            if lines is not None:
                matched = match_lines(
                    session=session,
                    user=CLI,
                    lines=lines,
                    relevance_factory=factory,
                    method=method,
                    progress=advance,
                )
                result, notes = matched.result, matched.notes
            else:
                result = _match_database(session, factory, method, advance)
    except DomainError as exc:
        if lines is None and exc.code == "match_empty_batch":
            console.print(f"[yellow]{exc.message}[/yellow]")
            result = BatchResult()
        else:
            raise fail(exc.message) from None
    finally:
        engine.dispose()
    payload = json.dumps(result.to_json(), ensure_ascii=False, indent=None if out else 2)
    if out is not None:
        out.write_text(payload + "\n", encoding="utf-8")
        console.print(f"结果已写入 / written: {out}")
    if as_json:
        for note in notes:
            console.print(f"[yellow]注意 / note：[/yellow]{note}")
        if out is None:
            sys.stdout.write(payload + "\n")
    else:
        _print_summary(result, notes)


def _match_database(
    session: Session, factory: RelevanceFactory, method: str, advance: Progress
) -> BatchResult:
    """Match the submitted requests in the database and store the proposal (run id printed)."""

    run = run_batch(
        session=session, user=CLI, relevance_factory=factory, method=method, progress=advance
    )
    console.print(f"已保存匹配方案 / proposal stored: #{run.id}（工作人员可在 API 中调整并确认）")
    labels = {
        r.id: r.external_id or str(r.id)
        for r in session.exec(
            select(DistrictRequest).where(col(DistrictRequest.id).in_(run.request_ids))
        ).all()
    }
    grouped: dict[int, list[PairExplanation]] = {}
    for pair in run_view(session=session, run=run).pairs:
        if pair.role == "assigned":
            grouped.setdefault(pair.request_id, []).append(
                PairExplanation(pair.expert_id, True, pair.score, reasons=pair.reasons)
            )
    result = BatchResult(stats=dict(run.summary))
    for request_id in run.request_ids:
        if request_id in grouped:
            result.assignments.append(
                Assigned(labels.get(request_id, str(request_id)), grouped[request_id])
            )
    for item in run.unassigned:
        label = labels.get(item["request_id"], str(item["request_id"]))
        result.unassigned.append(Unserved(label, item["reason"]))
    return result


def register(app: typer.Typer) -> None:
    app.command("match", help="批量匹配申请与专家 / match district requests to experts")(
        match_command
    )
