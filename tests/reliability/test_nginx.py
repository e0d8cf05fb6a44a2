"""deploy/nginx/kefu.conf for real: Debian's nginx in front of two kefu web processes and a worker on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.db.session import Database
from tests.reliability.procs import GRACEFUL, KefuProcess, free_port
from tests.reliability.streams import Visitor, console_hears_every_process, web_chat_hears_every_process
from tests.reliability.test_cross_process import add_supervisor, cluster_env, start_cluster

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "kefu.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render_site(web_ports: tuple[int, int], http_port: int, https_port: int, cert: Path, key: Path) -> str:
    """The shipped site with only its placeholders replaced: loopback ports and a throwaway certificate."""
    site = SITE.read_text(encoding="utf-8")
    replacements = {
        "server 127.0.0.1:8001 ": f"server 127.0.0.1:{web_ports[0]} ",
        "server 127.0.0.1:8002 ": f"server 127.0.0.1:{web_ports[1]} ",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "/etc/ssl/kefu/fullchain.pem": str(cert),
        "/etc/ssl/kefu/privkey.pem": str(key),
    }
    for placeholder, value in replacements.items():
        assert placeholder in site, f"the site no longer has {placeholder!r}"
        site = site.replace(placeholder, value)
    return site


def main_config(prefix: Path, site: Path) -> str:
    """What Debian's nginx.conf gives a site, in a private prefix (pid, logs, temp files)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {prefix}/access.log;\n"
        # Which web process serves a response, so the test can stop the one holding a stream.
        "  add_header X-Upstream $upstream_addr always;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
        f"  include {site};\n"
        "}\n"
    )


@pytest.fixture
def nginx_available() -> None:
    if not os.path.exists(NGINX):
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (.ci/run installs it)")
        pytest.skip("nginx is not installed")


class Nginx:
    """nginx with the rendered site in a private prefix, in the foreground of a child process."""

    def __init__(self, prefix: Path, site: str) -> None:
        prefix.mkdir()
        (prefix / "kefu.conf").write_text(site, encoding="utf-8")
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(main_config(prefix, prefix / "kefu.conf"), encoding="utf-8")
        self.prefix = prefix
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int) -> None:
        args = [NGINX, "-c", str(self.conf), "-p", str(self.prefix)]
        checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen([*args, "-g", "daemon off;"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"nginx does not listen on {port}: {(self.prefix / 'error.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    yield cert, key


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_web_chat_and_console_streams_through_nginx_in_front_of_two_web_processes(
    nginx_available: None, db_url: str, redis_url: str, tmp_path: Path, tls: tuple[Path, Path]
) -> None:
    web_ports = (free_port(), free_port())
    processes = await start_cluster(cluster_env(db_url, redis_url, tmp_path), tmp_path, web_ports)
    await add_supervisor(db_url)
    http_port, https_port = free_port(), free_port()
    nginx = Nginx(tmp_path / "nginx", render_site(web_ports, http_port, https_port, *tls))
    db = Database(db_url)
    try:
        await asyncio.to_thread(nginx.start, https_port)
        base = f"https://127.0.0.1:{https_port}"
        async with httpx.AsyncClient(verify=False) as http:
            plain = await http.get(f"http://127.0.0.1:{http_port}/api/chat/config")
            assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
            too_big = await http.post(f"{base}/api/chat/messages", content=b"x" * 300_000)
            assert too_big.status_code == 413, "nginx refuses bodies over 256 KiB before kefu reads them"
        # Round robin: the stream, the posts and the rep's requests land on both web processes.
        worst = await web_chat_hears_every_process(db, base, base, base, verify=False)
        print(f"through nginx, the slowest reply reached its stream in {worst:.3f} s")
        await console_hears_every_process(base, base, verify=False)
        # nginx logs a request when it ends: a stream closed a moment ago may not be written yet.
        deadline = time.monotonic() + 10
        while True:
            served = (nginx.prefix / "access.log").read_text()
            if ("/api/chat/events" in served and "/console/api/events" in served) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert "/api/chat/events" in served and "/console/api/events" in served
        await a_stopping_process_hands_its_streams_to_the_other(base, processes)
    finally:
        await asyncio.to_thread(nginx.stop)
        await db.dispose()
        for process in processes:
            if process.running():
                assert process.terminate() in GRACEFUL


async def a_stopping_process_hands_its_streams_to_the_other(base: str, processes: list[KefuProcess]) -> None:
    """SIGTERM the web process holding a visitor's stream: it ends with a reconnect hint, the browser comes
    back through nginx to the other process, and the conversation goes on there."""
    visitor = Visitor(base, base, verify=False)
    try:
        await visitor.open()
        assert visitor.upstream, "nginx names the process holding the stream"
        holder_port = int(visitor.upstream.rsplit(":", 1)[1])
        holder = next(p for p in processes if p.port == holder_port)
        holder.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        await asyncio.wait_for(visitor.ended.wait(), 10)
        assert visitor.retry_hints[-1] == 500
        await visitor.reopen()
        await visitor.say("人工")
        await visitor.wait_for("KF-")
        assert await asyncio.to_thread(holder.proc.wait, 30) in GRACEFUL  # type: ignore[union-attr]
    finally:
        await visitor.close()
