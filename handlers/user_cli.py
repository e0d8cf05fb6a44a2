"""`kefu user`: the people of the console (add; more subcommands join this group)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from core.settings import Settings

user_app = typer.Typer(help="Console users: reps, supervisors, admins", no_args_is_help=True)


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
    from core.errors import KefuError
    from handlers.console.users import create_user
    from handlers.services import build_services

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

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
                )
                return user.id
        finally:
            await services.stop()

    try:
        user_id = asyncio.run(run())
    except KefuError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {username.strip().lower()} ({role}) created with id {user_id}")
