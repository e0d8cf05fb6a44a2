"""`kefu keywords`: export and import the keyword rules as YAML (the format of config/keywords.yaml)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import SystemClock
from core.db.session import Database
from core.errors import KefuError
from core.keywords import draft, versions
from core.keywords.spec import RuleErrors
from core.keywords.yaml_io import dump_yaml, parse_yaml
from core.settings import Settings

T = TypeVar("T")
keywords_app = typer.Typer(help="Keyword rules: export and import as YAML", no_args_is_help=True)


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(Settings().database_url)
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


@keywords_app.command("export")
def keywords_export(
    file: Annotated[str, typer.Argument(help="Where to write; - for standard output")] = "-",
    version: Annotated[int | None, typer.Option(help="A published version (default: the draft)")] = None,
) -> None:
    """Write the draft rules, or a published version's, as YAML."""

    async def read(session: AsyncSession) -> str:
        if version is None:
            return dump_yaml(await draft.draft_specs(session), comment="draft")
        chosen = await versions.get_version(session, version)
        return dump_yaml(versions.specs_of(chosen), comment=f"version {chosen.number}")

    try:
        text = _in_transaction(read)
    except KefuError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if file == "-":
        sys.stdout.write(text)
    else:
        Path(file).write_text(text, encoding="utf-8")


@keywords_app.command("import")
def keywords_import(
    file: Annotated[str, typer.Argument(help="A YAML rule file; - for standard input")],
    publish: Annotated[bool, typer.Option(help="Also publish the imported rules as a new version")] = False,
    note: Annotated[str, typer.Option(help="The version's note when publishing")] = "import",
) -> None:
    """Replace the draft with the file's rules; a file with any bad rule is refused whole, with every reason."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    try:
        specs = parse_yaml(text)
    except RuleErrors as exc:
        for line in exc.errors:
            typer.echo(f"error: {line}", err=True)
        typer.echo("nothing was changed", err=True)
        raise typer.Exit(2) from None
    now = SystemClock().now()

    async def write(session: AsyncSession) -> int | None:
        await draft.replace_draft(session, specs, user_id=None, now=now, source="cli")
        if not publish:
            return None
        return (await versions.publish(session, note=note, user_id=None, now=now)).number

    try:
        number = _in_transaction(write)
    except KefuError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"draft: {len(specs)} rules" + (f"; published as version {number}" if number is not None else ""))
