"""`heart users ...`: accounts from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from marketplace.accounts.admin import (
    UserUpdate,
    find_user,
    list_users,
    public_users,
    reset_password,
    set_active,
    update_user,
)
from marketplace.accounts.models import UserCreate
from marketplace.accounts.service import create_user
from marketplace.db import make_engine, session_scope
from marketplace.errors import DomainError
from marketplace.validation import describe_errors
from marketplace.vocabulary import Role
from web.cli.common import CLI, console, fail, load_settings

users_app = typer.Typer(help="用户 / users", no_args_is_help=True)
# The option of `users create` that sets each field an account error can concern.
CREATE_OPTIONS = {"district": "--district", "expert_id": "--expert-id", "center": "--center"}


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


@users_app.command("create", help="创建用户 / create a user")
def users_create(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
    role: Annotated[Role, typer.Option("--role", help="角色 / role")],
    password: Annotated[
        str, typer.Option("--password", help="密码（至少 8 位，不可是常见或易猜的密码）/ password")
    ],
    district: Annotated[
        str | None, typer.Option("--district", help="区县（区县协调员必填），如 西安市/碑林区")
    ] = None,
    expert_id: Annotated[
        str | None, typer.Option("--expert-id", help="专家编号（专家账号必填）")
    ] = None,
    center: Annotated[
        str | None,
        typer.Option(
            "--center",
            help="资源中心（市级工作人员必填，如 西安市；只读账号填省名或市名）/ resource center",
        ),
    ] = None,
    display_name: Annotated[str, typer.Option("--display-name", help="显示名 / display name")] = "",
    email: Annotated[
        str | None, typer.Option("--email", help="邮箱（通知发往此地址）/ e-mail for notifications")
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="电话 / phone")] = None,
) -> None:
    settings = load_settings()
    engine = make_engine(settings)
    try:
        data = UserCreate(
            username=username,
            password=password,
            role=role,
            district=district,
            expert_id=expert_id,
            center=center,
            display_name=display_name,
            email=email,
            phone=phone,
        )
        with session_scope(engine) as session:
            user = create_user(session=session, data=data, user=CLI)
            console.print(f"已创建用户 {user.username}（{user.role}）/ user created")
    except DomainError as exc:
        # the message names the field as a form does; here the field is this command's option
        option = CREATE_OPTIONS.get(exc.field or "")
        raise fail(f"{exc.message}（{option}）" if option else exc.message) from None
    except ValidationError as exc:
        raise fail(describe_errors(exc.errors()), 2) from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()


def _run(action):  # type: ignore[no-untyped-def]
    """Run `action(session)` in one transaction; domain errors end the command with exit 1."""
    settings = load_settings()
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            return action(session)
    except DomainError as exc:
        raise fail(exc.message) from None
    except ValidationError as exc:
        raise fail(describe_errors(exc.errors()), 2) from None
    finally:
        engine.dispose()


@users_app.command("list", help="列出用户 / list users")
def users_list(
    role: Annotated[
        Role | None, typer.Option("--role", help="只列出该角色 / only this role")
    ] = None,
    inactive: Annotated[
        bool, typer.Option("--inactive", help="只列出已停用的账号 / only deactivated accounts")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="每行一个 JSON / one JSON per line")
    ] = False,
) -> None:
    def action(session):  # type: ignore[no-untyped-def]
        users, _ = list_users(
            session=session, role=role, active=False if inactive else None, page_size=100_000
        )
        return public_users(session=session, users=users)

    views = _run(action)
    if as_json:
        for view in views:
            typer.echo(view.model_dump_json())
        return
    table = Table(title="用户 / users")
    for column in ("用户名 username", "显示名 name", "角色 role", "绑定 bound to", "状态 status"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.username,
            v.display_name,
            v.role.value,
            v.district_name or v.expert_id or "",
            ("启用 active" if v.is_active else "已停用 inactive")
            + (" · 待改临时密码" if v.must_change_password else ""),
        )
    Console().print(table)


@users_app.command("deactivate", help="停用用户（登录和令牌立即失效）/ deactivate a user")
def users_deactivate(username: Annotated[str, typer.Argument(help="用户名 / username")]) -> None:
    def action(session):  # type: ignore[no-untyped-def]
        user = find_user(session=session, username=username)
        set_active(session=session, user_id=user.id or 0, active=False, user=CLI)

    _run(action)
    console.print(f"已停用 {username}，其登录和令牌已失效 / deactivated")


@users_app.command("reactivate", help="恢复启用用户 / reactivate a user")
def users_reactivate(username: Annotated[str, typer.Argument(help="用户名 / username")]) -> None:
    def action(session):  # type: ignore[no-untyped-def]
        user = find_user(session=session, username=username)
        set_active(session=session, user_id=user.id or 0, active=True, user=CLI)

    _run(action)
    console.print(f"已恢复启用 {username} / reactivated")


@users_app.command(
    "reset-password",
    help="重置为临时密码（下次登录须修改），打印到标准输出 / reset to a temporary password",
)
def users_reset_password(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
) -> None:
    def action(session):  # type: ignore[no-untyped-def]
        user = find_user(session=session, username=username)
        return reset_password(session=session, user_id=user.id or 0, user=CLI)

    result = _run(action)
    console.print(f"{username} 的临时密码（下次登录须修改）/ temporary password:")
    typer.echo(result.temporary_password)


@users_app.command("set-role", help="修改角色 / change a user's role")
def users_set_role(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
    role: Annotated[Role, typer.Option("--role", help="新角色 / new role")],
    district: Annotated[
        str | None,
        typer.Option("--district", help="区县（改为区县协调员时必填），如 西安市/碑林区"),
    ] = None,
    expert_id: Annotated[
        str | None, typer.Option("--expert-id", help="专家编号（改为专家账号时必填）")
    ] = None,
) -> None:
    def action(session):  # type: ignore[no-untyped-def]
        user = find_user(session=session, username=username)
        fields: dict[str, object] = {"role": role}
        if district is not None:
            fields["district"] = district
        if expert_id is not None:
            fields["expert_id"] = expert_id
        update_user(
            session=session,
            user_id=user.id or 0,
            data=UserUpdate.model_validate(fields),
            user=CLI,
        )

    _run(action)
    console.print(f"已将 {username} 的角色改为 {role.value} / role changed")
