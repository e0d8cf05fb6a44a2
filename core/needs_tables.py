"""The needs trends as tables, charts and HTML for the weekly report, and as its needs.csv."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from core.needs_trends import FALL, MIN_CHANGE, RISE, NeedsTrends, Trend
from core.report_svg import paired_bars
from core.report_tables import Cell, Table, html_table
from core.texts import Texts

KINDS = ("topics", "subjects")


class NeedsTables:
    """Builds the needs section in one language."""

    def __init__(self, texts: Texts, language: str) -> None:
        self.texts = texts
        self.language = language

    def t(self, key: str, **params: object) -> str:
        return self.texts.get(f"reports.needs_{key}", self.language, **params)

    def item(self, kind: str, code: str) -> str:
        """A topic's label in the report's language; a phrase is itself."""
        key = f"slots.inquiry.topic.choices.{code}"
        return self.texts.get(key, self.language) if kind != "phrases" and self.texts.has(key) else code

    def mark(self, trend: Trend) -> str:
        return self.t(trend.mark or "steady")

    def _cells(self, kind: str, trend: Trend) -> list[Cell]:
        return [
            self.item(kind, trend.item),
            trend.week,
            trend.previous,
            round(trend.average, 2),
            round(trend.change, 2),
            self.mark(trend),
        ]

    def _header(self, kind: str) -> list[str]:
        first = self.t("col_phrase") if kind == "phrases" else self.t("col_item")
        return [
            first,
            self.t("col_week"),
            self.t("col_previous"),
            self.t("col_average"),
            self.t("col_change"),
            self.t("col_mark"),
        ]

    def table(self, kind: str, trends: Sequence[Trend]) -> Table:
        return self._header(kind), [self._cells(kind, t) for t in trends]

    def tier_table(self, needs: NeedsTrends) -> Table:
        header = [self.t("col_tier"), self.t("col_section"), *self._header("topics")]
        rows: list[list[Cell]] = []
        for tier, kinds in needs.tiers.items():
            for kind in KINDS:
                rows.extend([tier, self.t(kind), *self._cells(kind, t)] for t in kinds.get(kind, []))
        return header, rows

    def csv_table(self, needs: NeedsTrends) -> Table:
        """Every row of the section in one table: overall topics, subjects and phrases, then per tier."""
        header = [self.t("col_tier"), self.t("col_section"), *self._header("topics")]
        rows: list[list[Cell]] = []
        for kind in (*KINDS, "phrases"):
            rows.extend([self.t("all_tiers"), self.t(kind), *self._cells(kind, t)] for t in getattr(needs, kind))
        rows.extend(self.tier_table(needs)[1])
        return header, rows

    def chart(self, kind: str, trends: Sequence[Trend]) -> str:
        return paired_bars(
            [self.item(kind, t.item) for t in trends],
            [t.week for t in trends],
            [t.average for t in trends],
            [t.mark for t in trends],
            title=self.t(kind),
            legend=(self.t("chart_week"), self.t("chart_average")),
        )

    def html(self, needs: NeedsTrends) -> list[str]:
        """The section's HTML parts: heading, how to read it, charts and tables."""
        parts = [
            f"<h2>{escape(self.t('title'))}</h2>",
            f"<p>{escape(self.t('basis', min_change=MIN_CHANGE, rise=RISE, fall=FALL))}</p>",
        ]
        for kind in KINDS:
            trends: list[Trend] = getattr(needs, kind)
            parts.append(f"<h3>{escape(self.t(kind))}</h3>")
            parts.append(f"<div>{self.chart(kind, trends)}</div>")
            parts.append(html_table(self.table(kind, trends)))
        parts.append(f"<h3>{escape(self.t('phrases'))}</h3>")
        parts.append(
            html_table(self.table("phrases", needs.phrases))
            if needs.phrases
            else f"<p>{escape(self.t('no_phrases'))}</p>"
        )
        parts.append(f"<h3>{escape(self.t('tiers'))}</h3>")
        parts.append(html_table(self.tier_table(needs)))
        return parts
