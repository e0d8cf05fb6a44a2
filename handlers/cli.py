"""The `kefu` command: serve, db upgrade, classify, dialogue diagram."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core.dialogue.classifier import KeywordClassifier, Rule, load_rules
from core.dialogue.textmodel import configured_model
from core.settings import Settings
from handlers.classifier_cli import classifier_app
from handlers.keywords_cli import keywords_app
from handlers.user_cli import user_app

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from core.db.session import Database
    from core.settings import WeeklyReportSettings
    from handlers.services import Services
    from handlers.weekly_reports import WeeklyReports

T = TypeVar("T")

app = typer.Typer(help="kefu: customer-issue assistant", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
dialogue_app = typer.Typer(help="Dialogue state machine", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dialogue_app, name="dialogue")
tickets_app = typer.Typer(help="Tickets: list, show, transition", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")
wechat_app = typer.Typer(help="WeChat Official Account", no_args_is_help=True)
menu_app = typer.Typer(help="The account's custom menu", no_args_is_help=True)
wechat_app.add_typer(menu_app, name="menu")
app.add_typer(wechat_app, name="wechat")
telegram_app = typer.Typer(help="Telegram bot", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
app.add_typer(user_app, name="user")
reports_app = typer.Typer(help="Reports: the weekly report, the quarterly client evaluation", no_args_is_help=True)
app.add_typer(reports_app, name="reports")
app.add_typer(keywords_app, name="keywords")
app.add_typer(classifier_app, name="classifier")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    role: Annotated[
        str | None, typer.Option(help="web (webhooks and pages), worker (outbox, follow-ups) or all")
    ] = None,
) -> None:
    """Run the service (web chat at /, health at /healthz, readiness at /readyz, metrics at /metrics)."""
    import uvicorn

    from handlers.app import create_app
    from handlers.serve import DrainingServer

    if role is not None and role not in ("web", "worker", "all"):
        raise typer.BadParameter("role must be web, worker or all", param_hint="--role")
    settings = Settings(role=role) if role else Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every tick at INFO; only its problems are worth a line.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Migrations run in a child process (under the deployment-wide lock): Alembic and the migration scripts
    # (about 11 MiB) never load in here. A database already at the scripts' heads needs no child (a second
    # interpreter start, seconds of CPU); any other state, including one the check cannot read, gets it.
    if not asyncio.run(_schema_is_current(settings.database_url)):
        subprocess.run([sys.executable, "-c", "from handlers.cli import main; main()", "db", "upgrade"], check=True)
    app = create_app(settings, migrate=False, server=True)
    config = uvicorn.Config(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.max_connections,
        # Behind the reverse proxy, X-Forwarded-For names the client (sign-in throttle, abuse limits);
        # FORWARDED_ALLOW_IPS says which proxies are believed (uvicorn's default: 127.0.0.1 only).
        proxy_headers=True,
    )
    DrainingServer(config, app.state.services.draining, settings.prestop_seconds).run()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations to KEFU_DATABASE_URL."""
    from core.db.migrate import upgrade

    _migrate(upgrade, revision)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="The revision to go back to, e.g. 0015")]) -> None:
    """Take KEFU_DATABASE_URL's schema back to REVISION (rolling back a release whose contract migration ran)."""
    from core.db.migrate import downgrade

    _migrate(downgrade, revision)


async def _schema_is_current(url: str) -> bool:
    """Whether the database at `url` is at the migration scripts' heads (False when it cannot be read)."""
    from sqlalchemy.exc import SQLAlchemyError

    from core.db.migrate import is_current
    from core.db.session import Database

    db = Database(url)
    try:
        return await is_current(db)
    except (OSError, SQLAlchemyError):
        # The upgrade that follows reports an unreachable database as it always has.
        return False
    finally:
        await db.dispose()


def _migrate(step: Callable[[Database, str], Awaitable[None]], revision: str) -> None:
    """Take KEFU_DATABASE_URL's schema to `revision` by `step` (upgrade or downgrade), and say so."""
    from core.db.session import Database

    async def run() -> None:
        db = Database(Settings().database_url)
        try:
            await step(db, revision)
        finally:
            await db.dispose()

    asyncio.run(run())
    typer.echo(f"database at {revision}")


def _rules(source: str, settings: Settings) -> list[Rule]:
    """Rules in force: the database's published version when there is one, else config/keywords.yaml."""
    yaml_rules = load_rules(settings.config_dir / "keywords.yaml")
    if source == "yaml":
        return yaml_rules
    from core.db.session import Database
    from core.keywords.versions import rules_in_force

    if source == "auto" and settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if not Path(path).exists():
            return yaml_rules

    async def read() -> list[Rule]:
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                return [spec.to_rule() for spec in (await rules_in_force(session))[1]]
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
    model: Annotated[
        bool, typer.Option(help="Add the learned model behind the rules (--no-model: rules alone)")
    ] = True,
) -> None:
    """Classify one message per stdin line (plain text or JSON with "text"); one JSON object per line out."""
    settings = Settings()
    classifier = KeywordClassifier(
        _rules(rules, settings),
        threshold=settings.dialogue.classifier_threshold,
        model=configured_model(settings.config_dir, settings.dialogue.classifier_model) if model else None,
    )
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


@app.command("docs")
def docs() -> None:
    """Regenerate the diagrams in docs/ from the code."""
    from handlers.docgen import regenerate

    for path in regenerate():
        typer.echo(f"updated {path}")


@menu_app.command("push")
def wechat_menu_push(
    account: str = typer.Option("default", help="the account's name (wechat.accounts in kefu.yaml)"),
) -> None:
    """Create the menu of config/wechat_menu.yaml on an account (default: the KEFU_WECHAT_* one)."""
    from functools import partial

    from bots.wechat.channel import account_channel
    from bots.wechat.menu import load_menu

    async def push(services: Services) -> dict[str, object]:
        if not services.wechat_accounts:
            typer.echo("error: set KEFU_WECHAT_TOKEN, KEFU_WECHAT_APP_ID and KEFU_WECHAT_APP_SECRET first", err=True)
            raise typer.Exit(2)
        channel = account_channel(services.registry.get("wechat"), account)
        if channel is None:
            typer.echo(f"error: no WeChat account named {account!r}", err=True)
            raise typer.Exit(2)
        menu = load_menu(services.settings.config_dir / "wechat_menu.yaml")
        # Through the channel, so the access token shared by every kefu process is used, not replaced.
        return await channel.api(partial(channel.client.post_json, "menu/create", menu))

    typer.echo(json.dumps(_with_services(push), ensure_ascii=False))


@telegram_app.command("poll")
def telegram_poll() -> None:
    """Long polling for development (deletes the webhook); replies and follow-ups run in the same process."""
    from bots.telegram.poll import run_polling
    from handlers.app import telegram_rep_routers

    async def poll(services: Services) -> None:
        if services.telegram_bot is None:
            typer.echo("error: set KEFU_TELEGRAM_TOKEN first", err=True)
            raise typer.Exit(2)
        ticks: list[Callable[[], Awaitable[object]]] = [services.followups.run_due]
        if services.reps is not None:
            ticks.append(services.reps.deliver_due)
        if services.telegram_notifier is not None:
            ticks.append(services.telegram_notifier.deliver_pending)
        await run_polling(
            services.engine,
            services.telegram,
            bot=services.telegram_bot,
            ticks=ticks,
            extra_routers=telegram_rep_routers(services),
        )

    _with_services(poll)


@telegram_app.command("set-webhook")
def telegram_set_webhook(url: str) -> None:
    """Point Telegram at URL (https://host/telegram), with KEFU_TELEGRAM_SECRET as the secret token."""
    from bots.telegram.poll import set_webhook
    from bots.telegram.settings import TelegramSettings

    async def run() -> bool:
        settings = TelegramSettings()
        bot = settings.bot()
        try:
            return await set_webhook(bot, url, settings.secret.get_secret_value())
        finally:
            await bot.session.close()

    typer.echo("ok" if asyncio.run(run()) else "refused")


@app.command()
def doctor() -> None:
    """Check the configuration: channels reachable, webhooks registered, departments staffed, SMTP, migrations."""
    from handlers.doctor import FAIL, CheckResult, failed, run_checks

    try:
        results = _with_services(run_checks)
    except Exception as exc:
        # Services cannot even start (a malformed setting, no database): that is the one line to fix first.
        results = [CheckResult("start", FAIL, f"{type(exc).__name__}: {exc}")]
    for result in results:
        typer.echo(result.line())
    raise typer.Exit(1 if failed(results) else 0)


def _with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    from handlers.services import build_services

    async def run() -> T:
        services = build_services(Settings())
        try:
            # Inside: a start that fails (a database not migrated) still closes what it opened.
            await services.start(migrate=False)
            return await work(services)
        finally:
            await services.stop()

    return asyncio.run(run())


@tickets_app.command("list")
def tickets_list(
    status: Annotated[str | None, typer.Option(help="Only tickets in this status")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
) -> None:
    """List tickets, newest first."""
    from handlers.ticket_lookup import list_tickets

    for row in _with_services(lambda s: list_tickets(s, status, limit)):
        typer.echo(
            f"{row.number}  {row.status:<13} {row.priority} {row.category:<10} {row.created_at[:16]}  {row.title}"
        )


@tickets_app.command("show")
def tickets_show(number: str) -> None:
    """Show one ticket with its audit trail, as JSON."""
    from handlers.ticket_lookup import show_ticket

    typer.echo(json.dumps(_with_services(lambda s: show_ticket(s, number)), ensure_ascii=False, indent=2, default=str))


@tickets_app.command("transition")
def tickets_transition(
    number: str,
    to: Annotated[str, typer.Argument(help="received|classified|investigating|resolved|feedback|closed")],
    actor: Annotated[str, typer.Option(help='Who acts, e.g. "user:3" or "ops"')] = "ops",
    solution: Annotated[str | None, typer.Option(help="Needed to resolve")] = None,
    root_cause: Annotated[str | None, typer.Option(help="Needed to close")] = None,
    improvement: Annotated[str | None, typer.Option(help="Needed to close")] = None,
    reason: Annotated[str | None, typer.Option(help="Recorded with the event")] = None,
) -> None:
    """Move a ticket through its lifecycle; guards apply as in the console."""
    from core.errors import KefuError
    from core.tickets.lifecycle import TicketStatus, TransitionRequest

    request = TransitionRequest(TicketStatus(to), actor, solution, root_cause, improvement, reason)
    try:
        status = _with_services(lambda s: s.engine.move_ticket(number, request))
    except KefuError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{number} -> {status}")


def _archive_by_hand(
    chosen: str | None,
    due: Callable[[datetime, ZoneInfo, WeeklyReportSettings], str],
    check: Callable[[str], object],
    generate: Callable[[WeeklyReports, str], Awaitable[bool]],
    label: str,
) -> None:
    """Archive a period's report (by default the one due) and send it, unless it exists; exit 2 on a bad period."""
    from zoneinfo import ZoneInfo

    from core.errors import KefuError
    from handlers.weekly_reports import WeeklyReports

    async def run(services: Services) -> tuple[str, bool]:
        period = chosen or due(
            services.clock.now(), ZoneInfo(services.settings.timezone), services.settings.weekly_report
        )
        check(period)
        return period, await generate(WeeklyReports(services), period)

    try:
        period, made = _with_services(run)
    except KefuError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{label} {period} " + ("generated" if made else "already exists (or is being generated)"))


@reports_app.command("weekly")
def reports_weekly(
    week: Annotated[str | None, typer.Option(help="ISO week YYYY-Www; default: the last week that is due")] = None,
) -> None:
    """Generate a week's report into the archive (and send it as the schedule would), unless it exists."""
    from core.weekly_report import due_week, week_monday

    _archive_by_hand(
        week, due_week, week_monday, lambda reports, w: reports.generate(w, created_by="cli"), "weekly report"
    )


@reports_app.command("quarterly")
def reports_quarterly(
    quarter: Annotated[str | None, typer.Option(help="quarter YYYY-Qn; default: the last quarter that is due")] = None,
) -> None:
    """Archive a quarter's client evaluation (and send it as the schedule would), unless it exists."""
    from core.quarterly_eval import due_quarter, quarter_first_day

    _archive_by_hand(
        quarter,
        due_quarter,
        quarter_first_day,
        lambda reports, q: reports.generate_quarter(q, created_by="cli"),
        "client evaluation",
    )


def main() -> None:
    app()
