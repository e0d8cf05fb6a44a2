"""The benchmark aggregator's table: figures beside their baselines, ratios, gaps and the machine line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.figures import Figure, count_label, emit, load, number, table
from bench.run_all import Machine, report

FIGURES = [
    Figure("classifier, 5,000 rules", 50_123.4, 2_500.0, "msgs/s", "naive substring loop"),
    Figure("claim tick, PostgreSQL, 100k pending", 12.5, 5.0, "ms", "plain SQL claim"),
    Figure("WeChat webhook, SQLite, 2 web processes", None, None, "msgs/s", note="n/a, single process by design"),
    Figure("RSS idle", 296.4, 0.0, "MiB", "bare app"),
]


def test_table_has_one_row_per_figure_with_ratio_and_unit() -> None:
    lines = table(FIGURES).splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == [
        "benchmark",
        "kefu",
        "baseline",
        "ratio",
        "unit",
        "baseline is",
    ]
    assert set(lines[1]) <= set("|-:")
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:]]
    assert cells[0] == ["classifier, 5,000 rules", "50,123", "2,500", "20.05x", "msgs/s", "naive substring loop"]
    assert cells[1] == ["claim tick, PostgreSQL, 100k pending", "12.5", "5.00", "2.50x", "ms", "plain SQL claim"]
    # Not measured by design: said so, and no figure made up for it.
    assert cells[2] == [
        "WeChat webhook, SQLite, 2 web processes",
        "n/a, single process by design",
        "–",
        "–",
        "msgs/s",
        "–",
    ]
    # A zero baseline gives no ratio rather than a division error.
    assert cells[3][3] == "–"
    assert len(cells) == len(FIGURES)
    assert len({len(line) for line in lines}) == 1


def test_numbers_and_labels() -> None:
    assert [number(v) for v in (1234.5, 42.25, 3.14159, None, float("nan"))] == ["1,234", "42.2", "3.14", "–", "–"]
    assert [count_label(n) for n in (1_000, 10_000, 100_000, 1_500, 300)] == ["1k", "10k", "100k", "1.5k", "300"]


def test_figures_round_trip_through_the_json_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "figures.json"
    emit(FIGURES)  # no BENCH_JSON: nothing written
    assert not path.exists()
    monkeypatch.setenv("BENCH_JSON", str(path))
    emit(FIGURES)
    assert load(path) == FIGURES


def test_report_leads_with_the_machine() -> None:
    machine = Machine("AMD EPYC 7B13", 2, 7.8, "3.11.7", "15.8", (0.5, 2.25))
    text = report(machine, FIGURES, ["classifier_bench: 20 s, ok"])
    assert (
        "Machine: AMD EPYC 7B13, 2 cores, 7.8 GiB RAM; Python 3.11.7; PostgreSQL 15.8;"
        " load average (1 min) 0.5–2.2 while measured" in text
    )
    assert table(FIGURES) in text
    assert text.endswith("classifier_bench: 20 s, ok")
