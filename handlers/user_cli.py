"""`kefu user`: the people of the agency: add console users, link a rep's Telegram account."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db.models import User
from core.db.session import Database
from core.settings import Settings

user_app = typer.Typer(help="Console users: reps, supervisors, admins", no_args_is_help=True)
T = TypeVar("T")


class _Refused(Exception):
    """What the command cannot do, said plainly."""


def _password(from_stdin: bool, prompt: str) -> str:
    """One line of standard input, or asked for twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return password


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; a refusal ends the command: exit status 1 (_Refused), or 2 for input kefu does not accept."""
    from core.errors import KefuError

    try:
        return asyncio.run(work)
    except _Refused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KefuError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Sign-in name: letters, digits, . _ -")],
    role: Annotated[str, typer.Option(help="rep | supervisor | admin")] = "rep",
    name: Annotated[str | None, typer.Option(help="Display name shown to clients (default: the user name)")] = None,
    department: Annotated[
        list[str] | None,
        typer.Option(help="Department code (repeat for several; the first is where tickets are assigned)"),
    ] = None,
    email: Annotated[str | None, typer.Option(help="For e-mail copies of notifications")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
) -> None:
    """Create a console user; the password is asked for twice (or read from stdin)."""
    from handlers.console.settings import ConsoleSettings
    from handlers.console.users import create_user
    from handlers.services import build_services

    password = _password(password_stdin, "Password")

    async def run() -> int:
        services = build_services(Settings())
        await services.start(migrate=False)
        try:
            async with services.db.transaction() as session:
                user = await create_user(
                    session,
                    username=username,
                    display_name=name or username,
                    role=role,
                    password=password,
                    departments=department or [],
                    email=email,
                    now=services.clock.now(),
                    min_score=ConsoleSettings().password_min_score,
                )
                return user.id
        finally:
            await services.stop()

    user_id = _run(run())
    typer.echo(f"user {username.strip().lower()} ({role}) created with id {user_id}")


async def link_telegram(db: Database, username: str, telegram_user_id: int) -> str:
    """Link the kefu user to a Telegram account; the display name, for the confirmation."""
    try:
        async with db.transaction() as session:
            user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
            if user is None:
                raise _Refused(f"no user {username!r}")
            other = (
                await session.execute(
                    select(User.username).where(User.telegram_user_id == telegram_user_id, User.id != user.id)
                )
            ).scalar_one_or_none()
            if other is not None:
                raise _Refused(f"Telegram user {telegram_user_id} is already linked to {other!r}")
            user.telegram_user_id = telegram_user_id
            return user.display_name
    except IntegrityError:
        # Linked by someone else between the check and the commit.
        raise _Refused(f"Telegram user {telegram_user_id} is already linked to another user") from None


@user_app.command("link-telegram")
def user_link_telegram(
    username: Annotated[str, typer.Argument(help="The kefu user's username")],
    telegram_user_id: Annotated[int, typer.Argument(help="The numeric Telegram user id (not the @name)")],
) -> None:
    """Let USERNAME act in the reps' Telegram group as TELEGRAM_USER_ID."""
    if telegram_user_id <= 0:
        typer.echo("error: a Telegram user id is a positive number", err=True)
        raise typer.Exit(2)

    async def run() -> str:
        db = Database(Settings().database_url)
        try:
            return await link_telegram(db, username, telegram_user_id)
        finally:
            await db.dispose()

    name = _run(run())
    typer.echo(f"{username} ({name}) is linked to Telegram user {telegram_user_id}")


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument(help="The kefu user's username")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
) -> None:
    """Set USERNAME's password (asked for twice, or read from stdin); every session of that user ends."""
    from core.clock import SystemClock
    from handlers.console.settings import ConsoleSettings
    from handlers.console.users import normalize_username, set_password

    password = _password(password_stdin, "New password")
    name = normalize_username(username)

    async def run() -> int:
        db = Database(Settings().database_url)
        try:
            async with db.transaction() as session:
                user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
                if user is None:
                    raise _Refused(f"no user {name!r}")
                return await set_password(
                    session,
                    user,
                    password,
                    now=SystemClock().now(),
                    actor_id=None,
                    min_score=ConsoleSettings().password_min_score,
                )
        finally:
            await db.dispose()

    ended = _run(run())
    typer.echo(f"password of {name} changed; {ended} session(s) ended")
