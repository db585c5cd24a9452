"""Request dependencies: the database session, the current user, role checks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import contextmanager_in_threadpool, run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import PUBLIC, Action, require
from marketplace.accounts.service import token_login
from marketplace.db import (
    WRITE_WAIT_SECONDS,
    apply_writes,
    defer_writes,
    serialized_write,
    take_deferred_writes,
)
from marketplace.errors import InvalidInput, PasswordChangeRequired, Unauthorized, Unavailable
from marketplace.settings import Settings
from marketplace.validation import has_control_characters

T = TypeVar("T")
# On a read session of get_read_session: runs a write now, in the write queue's turn.
WRITE_NOW = "heart.write_now"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def refuse_control_characters(request: Request) -> None:
    """Every route's guard: a query or path parameter with a control character is a 422.

    Bodies are checked by their schemas (marketplace.validation.InputModel); parameters reach
    queries directly, and PostgreSQL refuses NUL in text (a 500 before this guard).
    """
    for name, value in (*request.query_params.multi_items(), *request.path_params.items()):
        if isinstance(value, str) and has_control_characters(value):
            raise InvalidInput(messages.CONTROL_CHARACTERS.format(name=name[:40]))
        if has_control_characters(name):
            raise InvalidInput(messages.CONTROL_CHARACTERS.format(name="?"))


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the route succeeds, rolled back otherwise.

    Writing requests take SQLite's write lock up front (serialized_write) so that concurrent
    writers queue instead of failing; on SQLite they first queue here, in the event loop, so
    that waiting writers hold no worker thread (with every thread waiting for the lock, the
    writer holding it could not run its route). PostgreSQL sessions are unaffected.
    """
    engine = request.app.state.engine
    if request.method in READ_ONLY_METHODS:
        async with _read_then_write(request, engine) as session:
            yield session
        return
    async with _sqlite_write_turn(request, engine):
        async with contextmanager_in_threadpool(serialized_write(engine)) as session:
            yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A read session for any method; its writes (write_later) are applied after the route.

    For routes whose slow part must not hold the write lock: login verifies the password
    (Argon2, tens of milliseconds) while reading, and writes the session afterwards.
    """
    async with _read_then_write(request, request.app.state.engine) as session:
        yield session


@asynccontextmanager
async def _read_then_write(request: Request, engine: Engine) -> AsyncIterator[Session]:
    """A read session; the writes it deferred are applied in the write queue's turn after it."""
    writes: list = []
    try:
        async with contextmanager_in_threadpool(_read_session(engine)) as session:
            defer_writes(session)
            session.info[WRITE_NOW] = _writer(request, engine)
            try:
                yield session
            except Exception:
                writes = take_deferred_writes(session, failed=True)
                raise
            writes = take_deferred_writes(session)
    finally:
        if writes:
            async with _sqlite_write_turn(request, engine):
                await run_in_threadpool(apply_writes, engine, writes)


def _writer(request: Request, engine: Engine) -> Callable[[Callable[[Session], T]], Awaitable[T]]:
    async def run(write: Callable[[Session], T]) -> T:
        async with _sqlite_write_turn(request, engine):
            return await run_in_threadpool(_write_once, engine, write)

    return run


def _write_once(engine: Engine, write: Callable[[Session], T]) -> T:
    with serialized_write(engine) as session:
        return write(session)


async def write_now(session: Session, write: Callable[[Session], T]) -> T:
    """Run `write(session)` now in a short serialized write of its own and return its result.

    For routes that read first (a ReadSessionDep, a ReadingUser), do their slow part with no write
    lock held (a feed fetch, a sandboxed parse) and then store: only the store waits in the
    write queue. `write` gets a session of its own and must not use objects loaded by the read
    session except as plain values. A session without the read session's writer (a test's
    dependency override) is written into directly.
    """
    runner = session.info.get(WRITE_NOW)
    if runner is None:
        return await run_in_threadpool(_write_into, session, write)
    return await runner(write)


def _write_into(session: Session, write: Callable[[Session], T]) -> T:
    result = write(session)
    session.flush()
    return result


@contextmanager
def _read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


@asynccontextmanager
async def _sqlite_write_turn(request: Request, engine: Engine) -> AsyncIterator[None]:
    if engine.dialect.name != "sqlite":
        yield
        return
    queue = getattr(request.app.state, "sqlite_write_queue", None)
    if queue is None:  # made in the event loop; anyio's lock serves waiters in arrival order
        queue = request.app.state.sqlite_write_queue = anyio.Lock()
    try:
        with anyio.fail_after(WRITE_WAIT_SECONDS):
            await queue.acquire()
    except TimeoutError:
        raise Unavailable(messages.DATABASE_UNAVAILABLE) from None
    try:
        yield
    finally:
        queue.release()


async def password_turn(request: Request) -> AsyncIterator[None]:
    """At most one password verification per CPU core at a time (Argon2 is CPU- and
    memory-hard); logins beyond that wait here, in the event loop, holding no worker thread,
    so a burst of logins cannot take every thread from the writer that holds the write lock."""
    slots = getattr(request.app.state, "password_slots", None)
    if slots is None:  # made in the event loop
        slots = request.app.state.password_slots = anyio.Semaphore(os.cpu_count() or 1)
    async with slots:
        yield


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so that a client following a redirect
# (post/redirect/get) or issuing its next call at once reads its own write, and so that a failed
# commit becomes an error response instead of a success already sent (FastAPI's default
# "request" scope runs the code after `yield` only once the response has gone out).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
# Declared after the session: released before the session's deferred writes are applied.
PasswordTurn = Annotated[None, Depends(password_turn, scope="function")]


def get_optional_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User | None:
    """The user of a bearer token (API) or of the signed session cookie (pages), if any."""
    return _request_user(request, session, settings, token)


def _request_user(
    request: Request, session: Session, settings: Settings, token: str | None
) -> User | None:
    user = None
    if token:
        user, login = token_login(session=session, token=token, secret=settings.secret_key)
        request.state.token_session = login
    else:
        resolver = getattr(request.app.state, "cookie_user_resolver", None)
        if resolver is not None:
            user = resolver(request, session)
    if user is not None:
        request.state.user_id = user.id  # for the request's log line (web/observability.py)
    return user


# What a user holding a temporary password may still reach: who they are and the change form.
PASSWORD_CHANGE_PATHS = frozenset({"/api/me", "/api/me/password", "/account/password"})


def get_current_user(
    request: Request, user: Annotated[User | None, Depends(get_optional_user)]
) -> User:
    if user is None:
        raise Unauthorized(messages.NOT_AUTHENTICATED)
    if user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired(messages.PASSWORD_CHANGE_REQUIRED)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_reading_user(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    """The signed-in user, found through the request's read session (routes on ReadSessionDep
    whose slow part must not hold the write lock: changing one's password verifies it first)."""
    return get_current_user(request, _request_user(request, session, settings, token))


ReadingUser = Annotated[User, Depends(get_reading_user)]


def allowed_to(action: Action) -> Callable[[User], User]:
    """A dependency admitting only users whom the policy lets do `action` somewhere (the scope
    of the record is then checked by the service). The action it carries (`.action`) is the
    route's declaration: the route × role matrix test reads it from the route table."""

    def _check(user: CurrentUser) -> User:
        require(user, action)
        return user

    _check.action = action  # type: ignore[attr-defined]
    return _check


def reading_allowed_to(action: Action) -> Callable[[User], User]:
    """`allowed_to` for routes on the read session (a ReadingUser): no write lock is taken."""

    def _check(user: ReadingUser) -> User:
        require(user, action)
        return user

    _check.action = action  # type: ignore[attr-defined]
    return _check


def performs_reading(action: Action) -> Any:
    """`performs` for routes on the read session (their slow part holds no write lock)."""
    return Depends(reading_allowed_to(action))


def performs(action: Action) -> Any:
    """`dependencies=[performs(Action.X)]`: declare (and check) a route's action where the
    handler does not take the user through an action-named alias."""
    return Depends(allowed_to(action))


def _anyone() -> None:
    """Open to everyone, signed in or not (login, health, capability feed URLs)."""


_anyone.action = PUBLIC  # type: ignore[attr-defined]
# `dependencies=[PUBLIC_ROUTE]`: the route's declaration that it needs no login at all.
PUBLIC_ROUTE = Depends(_anyone)


# Users the policy lets do an action somewhere (named after the action; see permissions.POLICY).
StaffUser = Annotated[User, Depends(allowed_to(Action.expert_manage))]  # the expert catalogue
AdminUser = Annotated[User, Depends(allowed_to(Action.user_manage))]  # accounts, jobs
ServiceManager = Annotated[User, Depends(allowed_to(Action.service_manage))]
ApplicationDecider = Annotated[User, Depends(allowed_to(Action.application_decide))]
MatchRunner = Annotated[User, Depends(allowed_to(Action.match_run))]
ReportReader = Annotated[User, Depends(allowed_to(Action.report_read))]
ResourceReviewer = Annotated[User, Depends(allowed_to(Action.resource_manage))]
