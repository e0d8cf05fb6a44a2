"""WeChat webhook benchmark: encrypted text messages from N concurrent users to one uvicorn worker of kefu.

Beside kefu, in the same run: a bare FastAPI endpoint on the same kind of database (check, decrypt, insert
one row, answer "success"; bench/wechat_peer.py) and a WeRoBot echo bot under gunicorn with one worker.
On PostgreSQL also two `kefu serve --role web` processes and a worker, against two bare processes, the
load generator splitting the users between them. Everything runs on 127.0.0.1; servers are pinned to
core 0, the load generator and the fake WeChat API to core 1. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import asyncpg
import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bench.databases import drop_database, fresh_database
from bench.figures import Figure, emit, quick

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
TOKEN = "bench-token"
APP_ID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA_ID = "gh_kefu_bench"
# (concurrent users, messages per user); the last load is the one in the aggregated table.
LOADS = ((5, 10), (20, 5)) if quick() else ((10, 30), (100, 10))
# The heaviest load runs this many times, kefu and the bare endpoint in turn; its figures are the rounds' medians.
ROUNDS = 1 if quick() else 5
SERVER_CORE, CLIENT_CORE = 0, 1
TEXTS = (
    "你好，我想咨询一下广告投放的报价",
    "我们上个月的推广效果不好，要投诉",
    "建议你们的报表加上每日曝光量",
    "项目名称是双十一品牌推广",
    "联系电话 13800138000",
    "请问什么时候能给答复？",
    "谢谢",
)
_MSG_IDS = itertools.count(int(time.time()) * 1000)


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(core: int) -> Any:
    cores = os.sched_getaffinity(0)

    def pin() -> None:
        if len(cores) > 1 or core in cores:
            os.sched_setaffinity(0, {core})

    return pin


# ---------------------------------------------------------------- processes


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _start(
    name: str, cmd: list[str], env: dict[str, str], port: int, ready: str, core: int, tmp: Path, within: float = 120.0
) -> Server:
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(  # noqa: ASYNC220 - nothing else runs while a server starts
        cmd,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=_pin(core),
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        for _ in range(int(within * 10)):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            try:
                await http.get(ready)
                return Server(name, proc, base, log)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")


def _account_env(api_port: int, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KEFU_WECHAT_TOKEN=TOKEN,
        KEFU_WECHAT_APP_ID=APP_ID,
        KEFU_WECHAT_APP_SECRET="app-secret",
        KEFU_WECHAT_AES_KEY=AES_KEY,
        KEFU_WECHAT_API_BASE=f"http://127.0.0.1:{api_port}/cgi-bin/",
        KEFU_DATABASE_URL=database_url,
        BARE_DATABASE_URL=database_url,
        KEFU_LOG_LEVEL="WARNING",
        # Throughput, not abuse: each simulated user sends faster than a person would.
        KEFU_LIMITS__MESSAGES_PER_MINUTE="0",
        PYTHONPATH=str(ROOT),
    )
    return env


# ---------------------------------------------------------------- load


@dataclass
class Result:
    users: int
    per_user: int
    elapsed: float
    latencies: list[float]
    errors: int
    passive: int
    success: Counter[str] = field(default_factory=Counter)
    sends_missing: int = 0
    sends_extra: int = 0
    bad_replies: int = 0

    @property
    def sent(self) -> int:
        return self.users * self.per_user

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


def _requests(tag: str, users: int, per_user: int) -> list[list[tuple[str, dict[str, str], str]]]:
    """Each user's signed, encrypted posts, built before the clock starts: (openid, query, body)."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    plan = []
    for u in range(users):
        openid = f"oBench{tag}{u:05d}".ljust(28, "x")
        posts = []
        for i in range(per_user):
            ts = str(int(time.time()))
            nonce = f"n{next(_MSG_IDS)}"
            inner = (
                f"<xml><ToUserName>{OA_ID}</ToUserName><FromUserName>{openid}</FromUserName>"
                f"<CreateTime>{ts}</CreateTime><MsgType>text</MsgType>"
                f"<Content>{escape(TEXTS[(u + i) % len(TEXTS)])}</Content><MsgId>{next(_MSG_IDS)}</MsgId></xml>"
            )
            envelope = xmltodict.parse(crypto.encrypt_message(inner, nonce, ts))["xml"]
            query = {
                "signature": _sign(TOKEN, ts, nonce),
                "timestamp": ts,
                "nonce": nonce,
                "openid": openid,
                "encrypt_type": "aes",
                "msg_signature": envelope["MsgSignature"],
            }
            body = f"<xml><ToUserName>{OA_ID}</ToUserName><Encrypt>{envelope['Encrypt']}</Encrypt></xml>"
            posts.append((openid, query, body))
        plan.append(posts)
    return plan


def post_wire(port: int, target: str, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> bytes:
    """One POST as the bytes on the wire, so sending it costs the load generator no HTTP client work."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
        f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _wire(port: int, query: dict[str, str], body: str) -> bytes:
    return post_wire(port, f"/wechat?{urlencode(query)}", "text/xml", body.encode())


class Connection:
    """A keep-alive HTTP/1.1 connection reading just enough of each response (status, headers, body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, wire: bytes) -> tuple[int, str]:
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            try:
                self.writer.write(wire)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
                continue
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            if "content-length" in headers:
                body = await self.reader.readexactly(int(headers["content-length"]))
            else:
                body = await self.reader.read()
            if headers.get("connection", "").lower() == "close" or "content-length" not in headers:
                # gunicorn's sync worker closes every connection after one response.
                self.close()
            return status, body.decode()
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def run_load(bases: str | list[str], tag: str, users: int, per_user: int, connections: int = 0) -> Result:
    """Each user posts its messages one after another, waiting for every answer, over its own connection.

    With `connections` below `users`, each connection carries several users in turn (user i on connection
    i mod `connections`). Several servers share the connections in turn, as a load balancer would.
    """
    targets = [bases] if isinstance(bases, str) else bases
    lanes = min(users, connections) if connections else users
    plan: list[tuple[int, list[tuple[str, bytes]]]] = []
    for lane in range(lanes):
        port = _port(targets[lane % len(targets)])
        plan.append((port, []))
    for u, posts in enumerate(_requests(tag, users, per_user)):
        port, lane_posts = plan[u % lanes]
        lane_posts.extend((openid, _wire(port, q, body)) for openid, q, body in posts)
    latencies: list[float] = []
    answers: list[tuple[str, int, str]] = []

    async def user(port: int, posts: list[tuple[str, bytes]]) -> None:
        connection = Connection(port)
        try:
            for openid, wire in posts:
                started = time.perf_counter()
                try:
                    status, text = await asyncio.wait_for(connection.post(wire), 30)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    status, text = 0, repr(exc)
                    connection.close()
                latencies.append(time.perf_counter() - started)
                answers.append((openid, status, text))
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(user(port, posts) for port, posts in plan))
    elapsed = time.perf_counter() - started

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    result = Result(users, per_user, elapsed, latencies, errors=0, passive=0)
    for openid, status, text in answers:
        if status != 200:
            result.errors += 1
        elif text == "success":
            result.success[openid] += 1
        else:
            try:
                outer = xmltodict.parse(text)["xml"]
                inner = xmltodict.parse(
                    crypto.decrypt_message(text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
                )["xml"]
                ok = inner["ToUserName"] == openid and inner["MsgType"] == "text" and inner.get("Content")
            except Exception:
                ok = False
            if ok:
                result.passive += 1
            else:
                result.bad_replies += 1
    return result


async def settle_sends(api: str, result: Result, before: dict[str, int], prefix: str, wait: float = 30.0) -> None:
    """Wait for the customer-service sends owed for "success" answers; count missing and extra ones."""
    deadline = time.monotonic() + wait
    async with httpx.AsyncClient(base_url=api) as http:
        last: dict[str, int] = {}
        stable_since = time.monotonic()
        while True:
            sends: dict[str, int] = (await http.get("/stats")).json()["sends"]
            delta = {k: v - before.get(k, 0) for k, v in sends.items() if v - before.get(k, 0)}
            if delta != last:
                last, stable_since = delta, time.monotonic()
            owed_met = all(delta.get(o, 0) >= n for o, n in result.success.items())
            if (owed_met and time.monotonic() - stable_since > 1.0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
    for openid in set(result.success) | {o for o in last if o.startswith(prefix)}:
        got, owed = last.get(openid, 0), result.success.get(openid, 0)
        result.sends_missing += max(0, owed - got)
        result.sends_extra += max(0, got - owed)


async def _stats(api: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=api) as http:
        sends: dict[str, int] = (await http.get("/stats")).json()["sends"]
        return sends


# ---------------------------------------------------------------- scenarios


async def warm_up(servers: list[Server], api: str, tag: str, *, check_sends: bool) -> None:
    """A few messages per server before any clock starts: imports, pools, the access token, the first writes."""
    await run_load([s.base for s in servers], f"{tag}w", 5 * len(servers), 4)
    if check_sends:
        await settle_sends(api, Result(0, 0, 1, [], 0, 0), {}, f"oBench{tag}w", wait=5)


async def load_once(
    servers: list[Server], api: str, tag: str, users: int, per_user: int, *, check_sends: bool
) -> Result:
    """One load of `users` users x `per_user` messages; with `check_sends`, the sends it owes settled and counted."""
    before = await _stats(api) if check_sends else {}
    result = await run_load([s.base for s in servers], f"{tag}{users}u", users, per_user)
    if check_sends:
        await settle_sends(api, result, before, f"oBench{tag}{users}u")
    return result


async def measure(
    servers: Server | list[Server],
    api: str,
    tag: str,
    *,
    check_sends: bool,
    loads: tuple[tuple[int, int], ...] = LOADS,
) -> list[Result]:
    servers = [servers] if isinstance(servers, Server) else servers
    await warm_up(servers, api, tag, check_sends=check_sends)
    return [await load_once(servers, api, tag, u, m, check_sends=check_sends) for u, m in loads]


def kefu_command(port: int, role: str = "all") -> list[str]:
    return [str(VENV_BIN / "kefu"), "serve", "--host", "127.0.0.1", "--port", str(port), "--role", role]


def bare_command(app: str, port: int) -> list[str]:
    return [
        str(VENV_BIN / "uvicorn"), "--factory", app,
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def server_core(i: int, processes: int) -> int:
    """One process stays on the servers' core; several are spread over all cores, the load generator's too."""
    return SERVER_CORE if processes == 1 else (SERVER_CORE + i) % (os.cpu_count() or 1)


async def start_kefu(name: str, env: dict[str, str], processes: int, tmp: Path) -> tuple[list[Server], list[Server]]:
    """One `kefu serve` (role all), or `processes` web processes and one worker; (web servers, all servers)."""
    if processes == 1:
        port = _free_port()
        server = await _start(name, kefu_command(port), env, port, "/healthz", SERVER_CORE, tmp)
        return [server], [server]
    servers: list[Server] = []
    try:
        for i in range(processes):
            port = _free_port()
            servers.append(
                await _start(
                    f"{name}-web{i}", kefu_command(port, "web"), env, port, "/healthz", server_core(i, processes), tmp
                )
            )
        port = _free_port()
        worker = await _start(f"{name}-worker", kefu_command(port, "worker"), env, port, "/healthz", SERVER_CORE, tmp)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers, [*servers, worker]


async def start_bare(app: str, name: str, env: dict[str, str], processes: int, tmp: Path) -> list[Server]:
    servers: list[Server] = []
    try:
        for i in range(processes):
            port = _free_port()
            command = bare_command(app, port)
            servers.append(await _start(f"{name}{i}", command, env, port, "/count", server_core(i, processes), tmp))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


async def kefu_and_bare(
    kind: str, api_port: int, tmp: Path, notes: list[str], processes: int = 1
) -> tuple[list[Result], list[Result]]:
    """Run kefu and the bare endpoint side by side on fresh databases of `kind`, each as `processes` web processes.

    Both run at once (idle while the other is loaded). The lighter loads run once each; the heaviest load runs
    ROUNDS times, kefu and bare in turn, so that a machine whose speed drifts (steal time, a busy neighbour) drifts
    under both alike: its results are one per round, in order.
    """
    api = f"http://127.0.0.1:{api_port}"
    loads = LOADS if processes == 1 else LOADS[-1:]
    tag = f"{kind[0]}{processes}"
    if kind == "sqlite":
        kefu_url = f"sqlite:///{tmp}/kefu{processes}.db"
        bare_url = f"sqlite:///{tmp}/bare{processes}.db"
    else:
        kefu_url = await fresh_database("kefu_bench_wechat", migrate=False)
        bare_url = await fresh_database("kefu_bench_wechat_bare", migrate=False)
    started: list[Server] = []
    try:
        env = _account_env(api_port, kefu_url)
        subprocess.run([str(VENV_BIN / "kefu"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: ASYNC221
        web, everything = await start_kefu(f"kefu-{kind}-{processes}", env, processes, tmp)
        started += everything
        env = _account_env(api_port, bare_url)
        servers = await start_bare("bench.wechat_peer:bare_app", f"bare-{kind}-", env, processes, tmp)
        started += servers
        await warm_up(web, api, f"K{tag}", check_sends=True)
        await warm_up(servers, api, f"B{tag}", check_sends=False)
        kefu: list[Result] = []
        bare: list[Result] = []
        *lighter, (users, per_user) = loads
        for u, m in lighter:
            kefu.append(await load_once(web, api, f"K{tag}", u, m, check_sends=True))
            bare.append(await load_once(servers, api, f"B{tag}", u, m, check_sends=False))
        for i in range(ROUNDS):
            kefu.append(await load_once(web, api, f"K{tag}r{i}", users, per_user, check_sends=True))
            bare.append(await load_once(servers, api, f"B{tag}r{i}", users, per_user, check_sends=False))
        async with httpx.AsyncClient(base_url=servers[0].base) as http:
            rows = (await http.get("/count")).json()["rows"]
        expected = 20 * processes + sum(u * m for u, m in lighter) + ROUNDS * users * per_user
        if rows != expected:
            # A lost insert counts as an error of the last load.
            notes.append(f"bare {kind}: {rows} rows stored, {expected} expected")
            bare[-1].errors += abs(expected - rows)
        return kefu, bare
    finally:
        for server in started:
            server.stop()
        if kind == "postgres":
            await drop_database(kefu_url)
            await drop_database(bare_url)


class Measured(Protocol):
    """A load's result as the rounds read it (the WeChat and the Telegram benchmark's)."""

    @property
    def sent(self) -> int: ...

    @property
    def rate(self) -> float: ...

    def pct(self, p: float) -> float: ...


_R = TypeVar("_R", bound=Measured)


def medians(results: Sequence[Measured]) -> tuple[float, float]:
    """The median rate and the median p99 (ms) of a load's rounds."""
    return statistics.median(r.rate for r in results), statistics.median(r.pct(0.99) for r in results)


def heaviest(results: list[_R]) -> list[_R]:
    """The results of the heaviest load (most messages): one per round."""
    most = max(r.sent for r in results)
    return [r for r in results if r.sent == most]


async def werobot(api_port: int, tmp: Path) -> tuple[str, list[Result]] | tuple[str, None]:
    try:
        import werobot  # noqa: F401
    except ImportError:
        return "WeRoBot not installed (make bench installs the bench extra): rows skipped", None
    env = _account_env(api_port, "unused")
    port = _free_port()
    gunicorn = VENV_BIN / "gunicorn"
    if gunicorn.exists():
        how = "gunicorn, 1 sync worker, safe mode"
        app = "bench.wechat_peer:werobot_app()"
        cmd = [str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning", app]
    else:
        how = "WeRoBot's own server (wsgiref), safe mode"
        code = "import werobot; from bench.wechat_peer import werobot_app; import bottle; "
        code += f"bottle.run(werobot_app(), host='127.0.0.1', port={port}, quiet=True)"
        cmd = [sys.executable, "-c", code]
    api = f"http://127.0.0.1:{api_port}"
    try:
        server = await _start("werobot", cmd, env, port, "/", SERVER_CORE, tmp)
    except RuntimeError as exc:
        return f"WeRoBot did not start: {exc}", None
    try:
        return how, await measure(server, api, "W", check_sends=False)
    finally:
        server.stop()


# ---------------------------------------------------------------- report


def _row(name: str, db: str, r: Result, bare: Result | None, peer: Result | None, *, replies: bool) -> str:
    answered = r.passive + sum(r.success.values())
    vs_bare = f"{r.rate / bare.rate:.2f}x" if bare is not None else "–"
    vs_peer = f"{r.rate / peer.rate:.2f}x" if peer is not None else "–"
    one = f"{answered - r.sends_missing:>5}" if replies else f"{'–':>5}"
    return (
        f"{name:<13} | {db:<10} | {r.users:>5} | {r.sent:>5} | {r.rate:>8.1f}/s | {r.pct(0.5):>7.0f} ms"
        f" | {r.pct(0.99):>7.0f} ms | {vs_bare:>7} | {vs_peer:>7} | {r.passive:>5} | {sum(r.success.values()):>5}"
        f" | {one} | {r.errors + r.bad_replies:>3} | {r.sends_missing:>3}/{r.sends_extra:<3}"
    )


HEADER = (
    f"{'server':<13} | {'database':<10} | {'users':>5} | {'msgs':>5} | {'msgs/s':>10} | {'p50':>10} | {'p99':>10}"
    f" | {'vs bare':>7} | {'vs WRB':>7} | {'pasv':>5} | {'succ':>5} | {'1 rep':>5} | {'err':>3} | miss/extra"
)


def _complete(r: Result, *, replies: bool) -> bool:
    """Every message answered once: no error, no bad reply, and (kefu) one send for each "success"."""
    ok = r.errors == 0 and r.bad_replies == 0 and r.sends_missing == 0 and r.sends_extra == 0
    return ok and (not replies or r.passive + sum(r.success.values()) == r.sent)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres", help="databases to run kefu and bare on")
    parser.add_argument("--no-werobot", action="store_true", help="leave out the WeRoBot echo rows")
    parser.add_argument("--processes", default="1,2", help="web processes: 1, 2 (PostgreSQL only), or both")
    return parser.parse_args()


DATABASES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _processes(n: int) -> str:
    return "1 process" if n == 1 else f"{n} web processes + worker"


def figures(runs: dict[tuple[str, str, int], list[Result]], processes: list[int]) -> list[Figure]:
    """The heaviest load of each setup, kefu beside the bare endpoint (and WeRoBot) of the same run."""
    out: list[Figure] = []
    peer = runs.get(("werobot", "none", 1))
    for db, name in DATABASES.items():
        for n in processes:
            label = f"WeChat webhook, {name}, {_processes(n)}"
            kefu, bare = runs.get(("kefu", db, n)), runs.get(("bare", db, n))
            if db == "sqlite" and n > 1:
                out.append(Figure(label, None, None, "msgs/s", note="n/a, single process by design"))
                continue
            if kefu is None or bare is None:
                continue
            k, b = heaviest(kefu), heaviest(bare)
            label += f", {k[0].users} users"
            rounds = f", median of {len(k)} rounds in turn" if len(k) > 1 else ""
            baseline = f"bare endpoint ({n} process{'es' if n > 1 else ''}, same database{rounds})"
            (rate, p99), (bare_rate, bare_p99) = medians(k), medians(b)
            out.append(Figure(label, rate, bare_rate, "msgs/s", baseline))
            out.append(Figure(label, p99, bare_p99, "ms p99", baseline))
            if peer is not None and n == 1 and db == "postgres":
                out.append(Figure(label, rate, peer[-1].rate, "msgs/s", "WeRoBot echo (gunicorn, no database)"))
    return out


async def main() -> None:
    args = _args()
    try:
        os.sched_setaffinity(0, {CLIENT_CORE})
        pinned = f"load generator and fake API on core {CLIENT_CORE}, servers on core {SERVER_CORE}"
    except (OSError, AttributeError):
        pinned = "not pinned (single core or no sched_setaffinity)"
    tmp = Path(tempfile.mkdtemp(prefix="kefu-wechat-bench-"))
    api_port = _free_port()
    api_cmd = [sys.executable, "-m", "bench.wechat_peer", "fakeapi", str(api_port)]
    fake = await _start("fakeapi", api_cmd, _account_env(api_port, ""), api_port, "/stats", CLIENT_CORE, tmp)
    print(f"WeChat webhook, safe mode, one uvicorn worker; {pinned}; {os.cpu_count()} cores")
    notes: list[str] = []
    runs: dict[tuple[str, str, int], list[Result]] = {}
    processes = [int(n) for n in args.processes.split(",")]
    try:
        for kind in args.db.split(","):
            for n in processes:
                if kind == "sqlite" and n > 1:
                    continue  # SQLite runs everything in one process by design
                try:
                    runs["kefu", kind, n], runs["bare", kind, n] = await kefu_and_bare(kind, api_port, tmp, notes, n)
                except (OSError, asyncpg.PostgresError) as exc:
                    notes.append(f"{kind}, {n} processes: skipped ({type(exc).__name__}: {exc})")
        how, results = ("left out (--no-werobot)", None) if args.no_werobot else await werobot(api_port, tmp)
        notes.append(f"WeRoBot echo: {how}")
        if results is not None:
            runs["werobot", "none", 1] = results
    finally:
        fake.stop()
    peer = runs.get(("werobot", "none", 1))
    print(HEADER)
    complete = True
    for (server, db, n), results in runs.items():
        bare = runs.get(("bare", db, n))
        replies = server != "bare"
        for i, r in enumerate(results):
            # WeRoBot ran each load once, with one process.
            same_load = next((p for p in peer if p.users == r.users), None) if peer else None
            name = server if n == 1 else f"{server} x{n}"
            print(_row(name, db, r, bare[i] if bare else None, same_load, replies=replies))
            complete = complete and _complete(r, replies=replies)
    for (server, db, n), results in runs.items():
        if server == "kefu" and ("bare", db, n) in runs and len(heaviest(results)) > 1:
            k, b = heaviest(results), heaviest(runs["bare", db, n])
            ratios = sorted(x.rate / y.rate for x, y in zip(k, b, strict=True))
            (rate, p99), (bare_rate, bare_p99) = medians(k), medians(b)
            print(
                f"{db}, {_processes(n)}, {k[0].users} users, {len(k)} rounds in turn: kefu / bare per round"
                f" {', '.join(f'{r:.2f}x' for r in ratios)}; medians {rate:.1f} / {bare_rate:.1f} msgs/s,"
                f" p99 {p99:.0f} / {bare_p99:.0f} ms"
            )
    print("vs bare / vs WRB: msgs/s against the bare endpoint on the same database / the WeRoBot echo, same users")
    print("pasv = passive XML replies (decrypted and checked), succ = 'success' answers, 1 rep = messages with")
    print("exactly one reply (passive, or success + one custom/send on the fake API), miss/extra = sends owed/extra")
    for note in notes:
        print(note)
    print("kefu x2 = two `kefu serve --role web` processes, one on each core, and one worker on core 0; users split")
    print("between the web processes (bare x2: two processes, one on each core)")
    emit(figures(runs, processes))
    shutil.rmtree(tmp, ignore_errors=True)
    if complete:
        print("every message got exactly one reply")
    else:
        print("FAILED: some message got no reply, an error, or more than one reply (see the table)")
        sys.exit(1)


if __name__ == "__main__":
    # uvloop: the load generator's own event loop costs as little CPU as it can.
    import uvloop

    uvloop.run(main())
