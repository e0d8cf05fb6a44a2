"""`make bench`: every benchmark of the project in turn, then one table of kefu figures beside their baselines.

Each benchmark runs as its own process (`python -m bench.<name>`, its own pinning and event loop), with
its tables going to a log under var/bench/ and its figures to a JSON file (`BENCH_JSON`). The table,
headed by a description of the machine and its load while measuring, is printed and kept in
var/bench/table.md. `BENCH_QUICK=1` runs every benchmark at its smaller sizes.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.databases import PG
from bench.figures import JSON_ENV, Figure, load, quick, table

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
BENCHMARKS = (
    "classifier_bench",
    "model_bench",
    "entities_bench",
    "followups_bench",
    "statement_bench",
    "wechat_bench",
    "telegram_bench",
    "email_bench",
    "console_bench",
    "live_bench",
    "reports_bench",
    "client_eval_bench",
    "rss_bench",
    "crash_bench",
)


@dataclass(frozen=True)
class Machine:
    """What the figures were measured on."""

    cpu: str
    cores: int
    ram_gib: float
    python: str
    postgres: str
    load: tuple[float, float]

    def line(self) -> str:
        low, high = self.load
        return (
            f"{self.cpu}, {self.cores} cores, {self.ram_gib:.1f} GiB RAM; Python {self.python};"
            f" PostgreSQL {self.postgres}; load average (1 min) {low:.1f}–{high:.1f} while measured"
        )


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


async def postgres_version() -> str:
    try:
        conn = await asyncpg.connect(PG)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unreachable ({type(exc).__name__})"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


class LoadSampler:
    """The 1-minute load average every few seconds, in a thread, while the benchmarks run."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def span(self) -> tuple[float, float]:
        return (min(self.samples), max(self.samples)) if self.samples else (float("nan"), float("nan"))


def run_one(name: str) -> tuple[list[Figure], str]:
    """Run one benchmark module; its figures and a line on how it went."""
    log, figures_file = OUT / f"{name}.log", OUT / f"{name}.json"
    figures_file.unlink(missing_ok=True)
    env = {**os.environ, JSON_ENV: str(figures_file), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, env=env, stdout=out, stderr=out)
    seconds = time.monotonic() - started
    figures = load(figures_file) if figures_file.exists() else []
    status = "ok" if code == 0 else f"exit status {code}, see {log.relative_to(ROOT)}"
    if not figures:
        figures = [Figure(name, None, None, "", note="no figures (failed)")]
    return figures, f"{name}: {seconds:.0f} s, {status}"


def report(machine: Machine, figures: Sequence[Figure], runs: Sequence[str]) -> str:
    """The machine line, the one table, and how each benchmark ran."""
    head = f"kefu benchmarks{' (BENCH_QUICK: smaller sizes)' if quick() else ''}, {time.strftime('%Y-%m-%d')}"
    parts = [head, "", f"Machine: {machine.line()}", "", table(figures), "", "ratio = kefu ÷ baseline", *runs]
    return "\n".join(parts)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    runs: list[str] = []
    with LoadSampler() as sampler:
        for name in BENCHMARKS:
            print(f"running bench.{name} …", file=sys.stderr, flush=True)
            got, how = run_one(name)
            print(f"  {how}", file=sys.stderr, flush=True)
            figures.extend(got)
            runs.append(how)
    machine = Machine(
        cpu_model(),
        os.cpu_count() or 0,
        ram_gib(),
        platform.python_version(),
        asyncio.run(postgres_version()),
        sampler.span(),
    )
    text = report(machine, figures, runs)
    (OUT / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
