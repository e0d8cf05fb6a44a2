"""Charts of a report as inline SVG, drawn on the server: e-mail clients run no script."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

# Presentation attributes only (no style attribute): the console's CSP forbids inline styles.
COLOURS = {"inquiry": "#3b82f6", "complaint": "#ef4444", "suggestion": "#10b981", "other": "#9ca3af"}
FALLBACK_COLOUR = "#6b7280"
CURRENT, AVERAGE = "#3b82f6", "#9ca3af"
# A rising item is drawn in the complaint red (more asked about), a falling one in green.
MARKS = {"rising": "↑", "falling": "↓"}
MARK_COLOURS = {"rising": "#dc2626", "falling": "#059669"}
FONT_FACE = 'font-family="sans-serif" font-size="11"'
FONT = FONT_FACE + ' fill="#374151"'
TITLE_FONT = 'font-family="sans-serif" font-size="13" fill="#374151"'


def stacked_bars(
    labels: Sequence[str],
    series: dict[str, list[int]],
    names: dict[str, str],
    *,
    title: str,
    width: int = 640,
    height: int = 260,
) -> str:
    """Tickets per period, one stacked bar per period, one colour per category, with a legend."""
    left, right, top, bottom = 36, 8, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    slot = plot_w / max(1, len(labels))
    bar = max(1.0, slot * 0.7)
    parts = [_open(width, height, title), f'<text x="{left}" y="16" {TITLE_FONT}>{escape(title)}</text>']
    for tick in (0, peak // 2, peak) if peak > 1 else (0, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{tick}</text>')
    every = max(1, round(len(labels) / 10))
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for category, values in series.items():
            count = values[i]
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            colour = COLOURS.get(category, FALLBACK_COLOUR)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)} {escape(names.get(category, category))}: {count}</title></rect>"
            )
        if i % every == 0:
            short = label[5:] if len(label) == 10 else label
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" {FONT}>'
                f"{escape(short)}</text>"
            )
    x = left
    for category in series:
        colour = COLOURS.get(category, FALLBACK_COLOUR)
        name = escape(names.get(category, category))
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 7}" {FONT}>{name}</text>')
        x += 24 + 12 * len(names.get(category, category))
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(
    labels: Sequence[str], values: Sequence[int], *, title: str, width: int = 640, row: int = 22
) -> str:
    """One bar per label (the satisfaction scores), with its count at the end."""
    left, top = 90, 28
    height = top + row * len(labels) + 8
    peak = max(values, default=0) or 1
    plot_w = width - left - 48
    parts = [_open(width, height, title), f'<text x="4" y="16" {TITLE_FONT}>{escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row
        w = plot_w * value / peak
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" {FONT}>{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="#f59e0b"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" {FONT}>{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def paired_bars(
    labels: Sequence[str],
    current: Sequence[int],
    average: Sequence[float],
    marks: Sequence[str],
    *,
    title: str,
    legend: tuple[str, str],
    width: int = 640,
    row: int = 30,
) -> str:
    """Per label a bar for this period and a thin one for the average period before, with ↑ / ↓ where it moved."""
    left, top = 110, 28
    height = top + row * len(labels) + 26
    peak = max([*current, *average], default=0) or 1
    plot_w = width - left - 70
    parts = [_open(width, height, title), f'<text x="4" y="16" {TITLE_FONT}>{escape(title)}</text>']
    for i, (label, now, before, mark) in enumerate(zip(labels, current, average, marks, strict=True)):
        y = top + i * row
        w_now, w_before = plot_w * now / peak, plot_w * before / peak
        arrow = MARKS.get(mark, "")
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" {FONT}>{escape(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{w_now:.1f}" height="14" fill="{CURRENT}">'
            f"<title>{escape(label)} {escape(legend[0])}: {now}</title></rect>"
        )
        parts.append(
            f'<rect x="{left}" y="{y + 18}" width="{w_before:.1f}" height="6" fill="{AVERAGE}">'
            f"<title>{escape(label)} {escape(legend[1])}: {before:g}</title></rect>"
        )
        colour = MARK_COLOURS.get(mark, "#374151")
        parts.append(
            f'<text x="{left + max(w_now, w_before) + 4:.1f}" y="{y + 13}" {FONT_FACE} fill="{colour}">'
            f"{now}{(' ' + arrow) if arrow else ''}</text>"
        )
    x, y = left, height - 16
    for colour, name in ((CURRENT, legend[0]), (AVERAGE, legend[1])):
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{y + 9}" {FONT}>{escape(name)}</text>')
        x += 24 + 12 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    )
