"""`heart users ...`: accounts from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from marketplace.accounts.models import UserCreate
from marketplace.accounts.service import create_user
from marketplace.db import make_engine, session_scope
from marketplace.errors import DomainError
from marketplace.validation import describe_errors
from marketplace.vocabulary import Role
from web.cli.common import CLI_ACTOR, console, fail, load_settings

users_app = typer.Typer(help="用户 / users", no_args_is_help=True)


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
            user = create_user(session=session, data=data, actor=CLI_ACTOR)
            console.print(f"已创建用户 {user.username}（{user.role}）/ user created")
    except DomainError as exc:
        raise fail(exc.message) from None
    except ValidationError as exc:
        raise fail(describe_errors(exc.errors()), 2) from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()
