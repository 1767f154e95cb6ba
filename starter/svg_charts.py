"""Small bar charts as inline SVG, for reports read in any browser without JavaScript.

Two shapes cover the yearly follow-up: horizontal bars (one value per label: patients per
home region) and grouped columns (a value per category and series: patients per unit over
the years). Every text is escaped; each bar carries a ``<title>`` so a pointer shows its
value, and each chart a ``role="img"`` with its title for screen readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["PALETTE", "grouped_columns", "horizontal_bars"]

PALETTE = ("#1f5c99", "#e07b39", "#3a9a5b", "#b5443b", "#7a5ba8", "#8c6d46", "#c45c9a")
"""Series colours, told apart also by people with the common colour-vision deficiencies."""

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def horizontal_bars(
    title: str, bars: Sequence[tuple[str, float]], *, width: int = 640, bar_height: int = 18
) -> Markup:
    """One bar per ``(label, value)``, longest value filling the width.

    Args:
        title: the chart's heading (and its accessible name).
        bars: the labels and values, drawn top to bottom in this order.
        width: the whole chart's width in pixels.
        bar_height: each bar's height in pixels.
    """
    label_width, value_width, top = 190, 50, 28
    span = width - label_width - value_width
    largest = max((value for _, value in bars), default=0) or 1
    height = top + len(bars) * (bar_height + 6) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {_FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(bars):
        y = top + index * (bar_height + 6)
        length = round(span * value / largest, 1)
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height - 5}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect class="bar" x="{label_width}" y="{y}" width="{length}" '
            f'height="{bar_height}" fill="{PALETTE[0]}"><title>{escape(label)}: '
            f"{_number(value)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_width + length + 4}" y="{y + bar_height - 5}">{_number(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_columns(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Columns grouped by category (a year), one colour per series (a unit), with a legend.

    Args:
        title: the chart's heading (and its accessible name).
        categories: the groups along the horizontal axis, left to right.
        series: each series' values, one per category (0 where there is none).
        width: the whole chart's width in pixels.
        height: the plot's height in pixels (the legend is added below).
    """
    left, right, top, bottom = 44, 10, 28, 24
    names = list(series)
    largest = max((v for values in series.values() for v in values), default=0) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / max(len(categories), 1)
    column_w = min(48.0, max(4.0, (group_w - 12) / max(len(names), 1)))
    legend_h = 18 * len(names) + 6
    total_h = height + legend_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" width="{width}" height="{total_h}" '
        f'viewBox="0 0 {width} {total_h}" {_FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#666"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{_number(largest)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for c, category in enumerate(categories):
        # Centre the group's columns in its slot.
        x0 = left + c * group_w + (group_w - column_w * len(names)) / 2
        for s, name in enumerate(names):
            value = series[name][c]
            h = round(plot_h * value / largest, 1)
            x = round(x0 + s * column_w, 1)
            parts.append(
                f'<rect class="bar" x="{x}" y="{round(top + plot_h - h, 1)}" '
                f'width="{round(column_w - 2, 1)}" height="{h}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)}, '
                f"{escape(category)}: {_number(value)}</title></rect>"
            )
        parts.append(
            f'<text x="{round(left + c * group_w + group_w / 2, 1)}" '
            f'y="{top + plot_h + 16}" text-anchor="middle">{escape(category)}</text>'
        )
    for s, name in enumerate(names):
        y = height + 4 + 18 * s
        parts.append(
            f'<rect x="{left}" y="{y}" width="12" height="12" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{left + 18}" y="{y + 10}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
