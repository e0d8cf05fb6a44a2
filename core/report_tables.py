"""The report's tables (summary, categories, satisfaction, keywords, reps, departments) and their CSV form."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from html import escape
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

    def summary_rows(self, report: Report) -> list[tuple[str, str, str]]:
        """(label, shown value, n) of every headline figure; n is the count a rate or median is taken over."""
        return [(self.t(key), value, n) for key, value, n in self.summary_figures(report)]

    def summary_figures(self, report: Report) -> list[tuple[str, str, str]]:
        """(text key, shown value, n) of every headline figure, in the order of the summary table."""
        data = report.to_json()["totals"]
        fr, res = data["first_response"], data["resolution"]
        sla_fr, sla_res = data["sla_first_response"], data["sla_resolution"]

        def minutes(value: float | None) -> str:
            return "" if value is None else f"{value:g}"

        def count(value: int) -> str:
            return str(value)

        return [
            ("f_tickets", count(data["tickets"]), ""),
            ("f_complaint_rate", percent(data["complaint_rate"]), count(data["tickets"])),
            ("f_handoff_rate", percent(data["handoff_rate"]), count(data["tickets"])),
            ("f_unclassified_rate", percent(data["unclassified_rate"]), count(data["keyword_tickets"])),
            ("f_first_response_median", minutes(fr["median_minutes"]), count(fr["count"])),
            ("f_first_response_p90", minutes(fr["p90_minutes"]), count(fr["count"])),
            ("f_unanswered", count(fr["unanswered"]), ""),
            ("f_resolution_median", minutes(res["median_minutes"]), count(res["count"])),
            ("f_resolution_p90", minutes(res["p90_minutes"]), count(res["count"])),
            ("f_sla_first_response", percent(sla_fr["rate"]), count(sla_fr["decided"])),
            ("f_sla_first_response_pending", count(sla_fr["pending"]), ""),
            ("f_sla_resolution", percent(sla_res["rate"]), count(sla_res["decided"])),
            ("f_sla_resolution_pending", count(sla_res["pending"]), ""),
            ("f_open", count(data["open"]), ""),
            ("f_open_past_deadline", count(data["open_past_deadline"]), ""),
            ("f_open_near_deadline", count(data["open_near_deadline"]), ""),
            ("f_unassigned", count(data["unassigned"]), ""),
            (
                "f_satisfaction_avg",
                "" if data["satisfaction_avg"] is None else str(data["satisfaction_avg"]),
                count(data["rated"]),
            ),
            ("f_rated", count(data["rated"]), ""),
            ("f_no_feedback_rate", percent(data["no_feedback_rate"]), count(data["feedback_asked"])),
            ("f_reopen_rate", percent(data["reopen_rate"]), count(data["resolved_once"])),
        ]

    def summary(self, report: Report) -> Table:
        header = [self.t("c_figure"), self.t("c_value"), self.t("c_n")]
        return header, [list(r) for r in self.summary_rows(report)]

    def alerts(self, report: Report) -> list[str]:
        """The report's alerts as sentences: departments whose open tickets nobody is there to work."""
        return [
            self.texts.get(
                "reports.alert_unstaffed", self.language, department=a["name"] or a["department"], open=a["open"]
            )
            for a in report.to_json()["alerts"]
        ]

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
            self.t("c_first_response_n"),
            self.t("c_satisfaction"),
            self.t("c_rated"),
            self.t("c_reopen_rate"),
            self.t("c_resolved_once"),
        ]
        rows: list[list[Cell]] = [
            [
                r["name"],
                r["tickets"],
                r["first_response_median_minutes"],
                r["first_response_count"],
                r["satisfaction_avg"],
                r["rated"],
                percent(r["reopen_rate"]),
                r["resolved_once"],
            ]
            for r in report.reps
        ]
        # Tickets nobody owns close the table, so its ticket column adds up to the report's total.
        if report.totals.unassigned:
            rows.append([self.t("unassigned_row"), report.totals.unassigned, None, None, None, None, None, None])
        return header, rows

    def departments(self, report: Report) -> Table:
        header = [
            self.t("c_department"),
            self.t("c_tickets"),
            self.t("c_unassigned"),
            self.t("c_open"),
            self.t("c_open_past_deadline"),
            self.t("c_complaint_rate"),
            self.t("c_first_response_median"),
            self.t("c_first_response_n"),
            self.t("c_resolution_median"),
            self.t("c_resolution_n"),
            self.t("c_sla_first_response"),
            self.t("c_sla_n"),
            self.t("c_satisfaction"),
            self.t("c_rated"),
            self.t("c_reopen_rate"),
            self.t("c_resolved_once"),
        ]
        rows: list[list[Cell]] = [
            [
                d["name"] or self.t("no_department"),
                d["tickets"],
                d["unassigned"],
                d["open"],
                d["open_past_deadline"],
                percent(d["complaint_rate"]),
                d["first_response_median_minutes"],
                d["first_response_count"],
                d["resolution_median_minutes"],
                d["resolution_count"],
                percent(d["sla_first_response_rate"]),
                d["sla_first_response_decided"],
                d["satisfaction_avg"],
                d["rated"],
                percent(d["reopen_rate"]),
                d["resolved_once"],
            ]
            for d in report.departments
        ]
        return header, rows


def all_csv(tables: ReportTables, report: Report, names: Sequence[str] = TABLES) -> dict[str, str]:
    return {name: to_csv(tables.table(name, report)) for name in names}


def html_table(table: Table) -> str:
    """A table for e-mail: borders by attribute, no style attribute (the console's CSP forbids inline styles)."""
    header, rows = table
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    opening = '<table border="1" cellpadding="4" cellspacing="0">'
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
