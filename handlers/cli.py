"""The `kefu` command: serve, db upgrade, classify, dialogue diagram."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.dialogue.classifier import KeywordClassifier, Rule, load_rules
from core.settings import Settings

app = typer.Typer(help="kefu: customer-issue assistant", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
dialogue_app = typer.Typer(help="Dialogue state machine", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dialogue_app, name="dialogue")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Run the service (web chat at /, health at /healthz)."""
    import uvicorn

    from handlers.app import create_app

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every tick at INFO; only its problems are worth a line.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations to KEFU_DATABASE_URL."""
    from core.db.migrate import upgrade
    from core.db.session import Database

    async def run() -> None:
        db = Database(Settings().database_url)
        try:
            await upgrade(db, revision)
        finally:
            await db.dispose()

    asyncio.run(run())
    typer.echo(f"database at {revision}")


def _rules(source: str, settings: Settings) -> list[Rule]:
    """Rules in force: the database's when it exists and has any, else config/keywords.yaml."""
    yaml_rules = load_rules(settings.config_dir / "keywords.yaml")
    if source == "yaml":
        return yaml_rules
    from core.db.session import Database
    from core.seed import rules_from_db

    if source == "auto" and settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if not Path(path).exists():
            return yaml_rules

    async def read() -> list[Rule]:
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                return await rules_from_db(session)
        finally:
            await db.dispose()

    try:
        rules = asyncio.run(read())
    except Exception as exc:
        if source == "db":
            raise
        print(f"kefu classify: database rules unavailable ({type(exc).__name__}); using keywords.yaml", file=sys.stderr)
        return yaml_rules
    return rules or yaml_rules


@app.command()
def classify(
    rules: Annotated[str, typer.Option(help="auto | db | yaml")] = "auto",
) -> None:
    """Classify one message per stdin line (plain text or JSON with "text"); one JSON object per line out."""
    settings = Settings()
    classifier = KeywordClassifier(_rules(rules, settings), threshold=settings.dialogue.classifier_threshold)
    for line in sys.stdin:
        raw = line.rstrip("\n")
        text = raw
        if raw.lstrip().startswith("{"):
            try:
                data = json.loads(raw)
                if isinstance(data, dict) and isinstance(data.get("text"), str):
                    text = data["text"]
            except json.JSONDecodeError:
                text = raw
        result = classifier.classify(text)
        sys.stdout.write(json.dumps(result.to_json(text), ensure_ascii=False) + "\n")
    sys.stdout.flush()


@dialogue_app.command("diagram")
def dialogue_diagram() -> None:
    """Print the Mermaid state diagram generated from the transition table."""
    from core.dialogue.machine import mermaid

    typer.echo(mermaid(), nl=False)


def main() -> None:
    app()
