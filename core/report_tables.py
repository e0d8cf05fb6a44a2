"""The report's tables (summary, categories, satisfaction, keywords, reps, departments) and their CSV form."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from core.masking import mask_text
from core.reports import CATEGORIES, SCORES, Report
from core.texts import Texts

TABLES = ("summary", "categories", "satisfaction", "keywords", "reps", "departments")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"

Cell = str | int | float | None
Table = tuple[list[str], list[list[Cell]]]


def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def safe_cell(value: Cell) -> str:
    """The cell as text; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(table: Table) -> str:
    """UTF-8 CSV text with a BOM, so Excel reads Chinese correctly."""
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return BOM + out.getvalue()


class ReportTables:
    """Builds each table of a report with headers in one language."""

    def __init__(self, texts: Texts, language: str) -> None:
        self.texts = texts
        self.language = language

    def t(self, key: str, **params: Any) -> str:
        return self.texts.get(f"console.reports.{key}", self.language, **params)

    def category(self, code: str) -> str:
        key = f"category.{code}"
        return self.texts.get(key, self.language) if self.texts.has(key) else code

    def table(self, name: str, report: Report) -> Table:
        builders: dict[str, Callable[[Report], Table]] = {
            "summary": self.summary,
            "categories": self.categories,
            "satisfaction": self.satisfaction,
            "keywords": self.keywords,
            "reps": self.reps,
            "departments": self.departments,
        }
        if name not in builders:
            raise KeyError(name)
        return builders[name](report)

    def summary_rows(self, report: Report) -> list[tuple[str, str]]:
        """(label, shown value) of every headline figure."""
        data = report.to_json()["totals"]
        fr, res = data["first_response"], data["resolution"]

        def minutes(value: float | None) -> str:
            return "" if value is None else f"{value:g}"

        return [
            (self.t("f_tickets"), str(data["tickets"])),
            (self.t("f_complaint_rate"), percent(data["complaint_rate"])),
            (self.t("f_first_response_median"), minutes(fr["median_minutes"])),
            (self.t("f_first_response_p90"), minutes(fr["p90_minutes"])),
            (self.t("f_resolution_median"), minutes(res["median_minutes"])),
            (self.t("f_resolution_p90"), minutes(res["p90_minutes"])),
            (self.t("f_sla_first_response"), percent(data["sla_first_response"]["rate"])),
            (self.t("f_sla_resolution"), percent(data["sla_resolution"]["rate"])),
            (self.t("f_satisfaction_avg"), "" if data["satisfaction_avg"] is None else str(data["satisfaction_avg"])),
            (self.t("f_rated"), str(data["rated"])),
            (self.t("f_no_feedback_rate"), percent(data["no_feedback_rate"])),
            (self.t("f_reopen_rate"), percent(data["reopen_rate"])),
            (self.t("f_unclassified_rate"), percent(data["unclassified_rate"])),
        ]

    def summary(self, report: Report) -> Table:
        return [self.t("c_figure"), self.t("c_value")], [list(r) for r in self.summary_rows(report)]

    def categories(self, report: Report) -> Table:
        names = [c for c in report.series if c in CATEGORIES] + [c for c in report.series if c not in CATEGORIES]
        header = [self.t("c_period")] + [self.category(c) for c in names]
        rows: list[list[Cell]] = [
            [label, *(report.series[c][i] for c in names)] for i, label in enumerate(report.buckets)
        ]
        return header, rows

    def satisfaction(self, report: Report) -> Table:
        return [self.t("c_score"), self.t("c_count")], [[s, report.satisfaction.get(s, 0)] for s in SCORES]

    def keywords(self, report: Report) -> Table:
        return [self.t("c_keyword"), self.t("c_count")], [[mask_text(p), n] for p, n in report.keywords]

    def reps(self, report: Report) -> Table:
        header = [
            self.t("c_rep"),
            self.t("c_tickets"),
            self.t("c_first_response_median"),
            self.t("c_satisfaction"),
            self.t("c_rated"),
            self.t("c_reopen_rate"),
        ]
        rows: list[list[Cell]] = [
            [
                r["name"],
                r["tickets"],
                r["first_response_median_minutes"],
                r["satisfaction_avg"],
                r["rated"],
                percent(r["reopen_rate"]),
            ]
            for r in report.reps
        ]
        return header, rows

    def departments(self, report: Report) -> Table:
        header = [
            self.t("c_department"),
            self.t("c_tickets"),
            self.t("c_complaint_rate"),
            self.t("c_first_response_median"),
            self.t("c_resolution_median"),
            self.t("c_sla_first_response"),
            self.t("c_satisfaction"),
            self.t("c_reopen_rate"),
        ]
        rows: list[list[Cell]] = [
            [
                d["name"] or self.t("no_department"),
                d["tickets"],
                percent(d["complaint_rate"]),
                d["first_response_median_minutes"],
                d["resolution_median_minutes"],
                percent(d["sla_first_response_rate"]),
                d["satisfaction_avg"],
                percent(d["reopen_rate"]),
            ]
            for d in report.departments
        ]
        return header, rows


def all_csv(tables: ReportTables, report: Report, names: Sequence[str] = TABLES) -> dict[str, str]:
    return {name: to_csv(tables.table(name, report)) for name in names}
