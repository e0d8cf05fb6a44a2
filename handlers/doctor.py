"""`kefu doctor`: checks a deployment's configuration the way an admin needs it, one line per check."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram.exceptions import TelegramAPIError

from bots.telegram.settings import telegram_config_problem
from bots.wechat.channel import account_channel
from bots.wechat.kf_settings import RepMode
from core.channel import PermanentSendError, TransientSendError
from core.db.migrate import is_current
from core.staffing import unstaffed_departments
from handlers.services import Services

OK, FAIL, SKIP = "ok", "FAIL", "skip"
# A check that hangs (a firewall dropping packets) must not hang the command.
CHECK_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report: what was checked, how it went, and what to do about it."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        # One line each, whatever an exception's text holds (SQL, tracebacks of drivers).
        detail = " ".join(self.detail.split())
        return f"{self.status:<4}  {self.name}: {detail[:400]}"


Check = Callable[[Services], Awaitable[list[CheckResult]]]


async def database(services: Services) -> list[CheckResult]:
    if not await services.db.ping():
        return [CheckResult("database", FAIL, "unreachable (KEFU_DATABASE_URL)")]
    if not await is_current(services.db):
        return [CheckResult("database", FAIL, "reachable, migrations behind: run `kefu db upgrade`")]
    return [CheckResult("database", OK, "reachable, migrations current")]


async def wechat(services: Services) -> list[CheckResult]:
    if not services.wechat_accounts:
        return [CheckResult("wechat", SKIP, "no Official Account configured (KEFU_WECHAT_*)")]
    results = []
    for account in services.wechat_accounts:
        name = f"wechat {account.name}"
        channel = account_channel(services.registry.find("wechat"), account.name)
        if channel is None:
            results.append(CheckResult(name, FAIL, "configured but not registered"))
            continue
        try:
            await channel.tokens.get()
        except (TransientSendError, PermanentSendError) as exc:
            results.append(CheckResult(name, FAIL, f"access token refused: {exc} (app id/secret, IP whitelist)"))
            continue
        results.append(CheckResult(name, OK, f"access token at {account.api_base}"))
    return results


async def wecom(services: Services) -> list[CheckResult]:
    channel = services.wecom_kf
    if channel is None:
        return [CheckResult("wecom", SKIP, "WeCom 微信客服 not configured (KEFU_WECOM_*)")]
    account = channel.account
    try:
        await channel.tokens.get()
    except (TransientSendError, PermanentSendError) as exc:
        hint = "corp id, app secret, trusted IP list"
        return [CheckResult("wecom", FAIL, f"gettoken at {account.api_base} failed: {exc} ({hint})")]
    try:
        accounts = await channel.account_ids()
    except (TransientSendError, PermanentSendError) as exc:
        hint = "is the app listed under 微信客服 → 可调用接口的应用?"
        return [CheckResult("wecom", FAIL, f"kf/account/list failed: {exc} ({hint})")]
    if not accounts:
        return [CheckResult("wecom", FAIL, "no kf account is managed through the API (微信客服 → 通过API管理)")]
    results = [CheckResult("wecom", OK, f"token and {len(accounts)} kf account(s), rep mode {account.rep_mode}")]
    if account.rep_mode is RepMode.WECOM and not (account.servicers or account.default_servicer):
        detail = "rep mode wecom without KEFU_WECOM_SERVICERS or _DEFAULT_SERVICER: claims go to the waiting pool"
        results.append(CheckResult("wecom servicers", FAIL, detail))
    return results


async def telegram(services: Services) -> list[CheckResult]:
    settings, bot = services.telegram, services.telegram_bot
    if bot is None:
        return [CheckResult("telegram", SKIP, "no bot token (KEFU_TELEGRAM_TOKEN)")]
    results = []
    try:
        me = await bot.get_me()
    except TelegramAPIError as exc:
        return [CheckResult("telegram", FAIL, f"getMe at {settings.api_base} refused: {exc.message}")]
    results.append(CheckResult("telegram", OK, f"getMe: @{me.username}"))
    problem = telegram_config_problem(settings)
    if problem is not None:
        results.append(CheckResult("telegram webhook", FAIL, problem))
    elif settings.secret.get_secret_value():
        info = await bot.get_webhook_info()
        if not info.url or not info.url.rstrip("/").endswith("/telegram"):
            detail = f"registered URL is {info.url or 'none'}: run `kefu telegram set-webhook https://<host>/telegram`"
            results.append(CheckResult("telegram webhook", FAIL, detail))
        else:
            results.append(CheckResult("telegram webhook", OK, info.url))
    else:
        results.append(CheckResult("telegram webhook", SKIP, "no KEFU_TELEGRAM_SECRET: long polling only"))
    if settings.reps_chat_id is not None:
        try:
            chat = await bot.get_chat(settings.reps_chat_id)
        except TelegramAPIError as exc:
            results.append(CheckResult("telegram reps group", FAIL, f"getChat refused: {exc.message}"))
        else:
            if chat.is_forum:
                results.append(CheckResult("telegram reps group", OK, f"{chat.title} (topics on)"))
            else:
                detail = f"{chat.title} has no topics: turn Topics on and make the bot an admin that manages topics"
                results.append(CheckResult("telegram reps group", FAIL, detail))
    return results


async def departments(services: Services) -> list[CheckResult]:
    async with services.db.transaction() as session:
        unstaffed = await unstaffed_departments(session)
    if not unstaffed:
        return [CheckResult("departments", OK, "every department with open tickets has an active rep or a head")]
    return [
        CheckResult(
            f"department {d.code}",
            FAIL,
            f"{d.name}: {d.open_tickets} open ticket(s), no active rep and no head (only supervisors see them)",
        )
        for d in unstaffed
    ]


async def smtp(services: Services) -> list[CheckResult]:
    config = services.settings.smtp
    if not config.host:
        return [CheckResult("smtp", SKIP, "no KEFU_SMTP__HOST: e-mail notifications off")]
    host, port, timeout = config.host, config.port, min(config.timeout, CHECK_SECONDS)

    def probe() -> str:
        with smtplib.SMTP(host, port, timeout=timeout) as client:
            code, _ = client.noop()
            return str(code)

    try:
        code = await asyncio.to_thread(probe)
    except (OSError, smtplib.SMTPException) as exc:
        return [CheckResult("smtp", FAIL, f"{host}:{port} unreachable: {type(exc).__name__}: {exc}")]
    return [CheckResult("smtp", OK, f"{host}:{port} answers (NOOP {code})")]


CHECKS: tuple[tuple[str, Check], ...] = (
    ("database", database),
    ("wechat", wechat),
    ("wecom", wecom),
    ("telegram", telegram),
    ("departments", departments),
    ("smtp", smtp),
)


async def run_checks(services: Services) -> list[CheckResult]:
    """Every check in order; one that raises or hangs is a failure of its own line, not of the command."""
    results: list[CheckResult] = []
    for name, check in CHECKS:
        try:
            results.extend(await asyncio.wait_for(check(services), CHECK_SECONDS))
        except TimeoutError:
            results.append(CheckResult(name, FAIL, f"no answer within {CHECK_SECONDS:.0f} s"))
        except Exception as exc:
            results.append(CheckResult(name, FAIL, f"{type(exc).__name__}: {exc}"))
    return results


def failed(results: list[CheckResult]) -> bool:
    return any(r.status == FAIL for r in results)
