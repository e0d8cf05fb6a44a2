"""Figures shared by the benchmarks: one kefu figure beside its baseline from the same run, and the table of them.

Every benchmark module builds a list of `Figure` and hands it to `emit()`. When the aggregator
(`bench/run_all.py`) runs the module, `BENCH_JSON` names the file the figures go to; run alone, the
module prints its own tables as before and `emit()` does nothing. `BENCH_QUICK=1` asks every benchmark
for its smaller sizes, for working on the benchmarks themselves.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

JSON_ENV = "BENCH_JSON"
QUICK_ENV = "BENCH_QUICK"
COLUMNS = ("benchmark", "kefu", "baseline", "ratio", "unit", "baseline is")


@dataclass(frozen=True)
class Figure:
    """One measured kefu figure and its baseline from the same run; `note` stands in for figures not measured."""

    benchmark: str
    kefu: float | None
    baseline: float | None
    unit: str
    baseline_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """The kefu figure over the baseline: above 1 is more of the unit (faster for a rate, slower for a latency)."""
        if self.kefu is None or self.baseline is None or self.baseline == 0:
            return None
        return self.kefu / self.baseline


def quick() -> bool:
    """Whether the smaller sizes were asked for (BENCH_QUICK=1)."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def sized(full: int, small: int) -> int:
    """`full`, or `small` under BENCH_QUICK."""
    return small if quick() else full


def count_label(n: int) -> str:
    """10000 -> "10k", 1500 -> "1.5k", 300 -> "300": labels follow the sizes actually run."""
    if n >= 1000 and n % 100 == 0:
        thousands = n / 1000
        return f"{thousands:g}k"
    return f"{n:,}"


async def millis(run: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    """Milliseconds per call of `run`, one call at a time, after one untimed warm-up call."""
    await run()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def print_timings(title: str, column: str, width: int, timings: Sequence[tuple[str, list[float]]]) -> None:
    """The median and p95 of each row, under a title line and a header whose first column is `column`."""
    print(title)
    print(f"{column:<{width}} {'median':>9} {'p95':>9}")
    for name, times in timings:
        print(f"{name:<{width}} {statistics.median(times):>7.1f}ms {p95(times):>7.1f}ms")


def beside_first(
    timings: Sequence[tuple[str, list[float]]], prefix: str, baseline_name: str, unit: str = "ms median"
) -> list[Figure]:
    """A figure per row after the first, each row's median beside the first row's (the same run's baseline)."""
    base = statistics.median(timings[0][1])
    return [
        Figure(f"{prefix}: {name}", statistics.median(times), base, unit, baseline_name) for name, times in timings[1:]
    ]


def emit(figures: Iterable[Figure]) -> None:
    """Write the figures to the file named by BENCH_JSON, when the aggregator asked for them."""
    path = os.environ.get(JSON_ENV)
    if path:
        Path(path).write_text(json.dumps([asdict(f) for f in figures], ensure_ascii=False, indent=1))


def load(path: Path) -> list[Figure]:
    """The figures one benchmark wrote with `emit()`."""
    return [Figure(**item) for item in json.loads(path.read_text())]


def number(value: float | None) -> str:
    """A figure as printed: three significant digits or more, thousands separated."""
    if value is None or math.isnan(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def rows(figures: Sequence[Figure]) -> list[tuple[str, ...]]:
    """The table's cells, one tuple per figure, in the order given."""
    out: list[tuple[str, ...]] = []
    for f in figures:
        if f.note and f.kefu is None:
            out.append((f.benchmark, f.note, "–", "–", f.unit, f.baseline_name or "–"))
            continue
        ratio = "–" if f.ratio is None else f"{f.ratio:.2f}x"
        out.append((f.benchmark, number(f.kefu), number(f.baseline), ratio, f.unit, f.baseline_name or "–"))
    return out


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table: benchmark | kefu | baseline | ratio | unit | baseline is."""
    cells = [COLUMNS, *rows(figures)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    right = (False, True, True, True, False, False)

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":" if r else "-" * (w + 2)) for w, r in zip(widths, right, strict=True))
    return "\n".join([line(COLUMNS), rule + "|", *(line(row) for row in cells[1:])])
