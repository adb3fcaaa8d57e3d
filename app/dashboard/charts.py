"""Bar charts as inline SVG, drawn on the server: no JavaScript, no chart library, no CDN.

A chart is one ``<svg role="img">`` with a ``<title>``/``<desc>`` and a ``<title>`` per
bar (the browser shows it on hover and screen readers read it); the page puts the
same numbers in a table beside it. Colours come from CSS classes in ``hub.css``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from math import floor, log10

from markupsafe import Markup, escape

WIDTH = 760
HEIGHT = 280
MARGIN_LEFT = 52
MARGIN_RIGHT = 12
MARGIN_TOP = 14
MARGIN_BOTTOM = 58
GRID_LINES = 4

_ids = count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no value (drawn as nothing, said as "—")
    css: str = "bar-a"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` whose grid step is round too (a step of
    1, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ, for any n, small values included)."""
    if value <= 0:
        return 1.0
    wanted = value / GRID_LINES
    magnitude = 10 ** floor(log10(wanted))
    for step in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * magnitude >= wanted * (1 - 1e-9):
            return step * magnitude * GRID_LINES
    return 10 * magnitude * GRID_LINES


def _decimals(step: float) -> int:
    """Decimals that tell every grid line apart (0.025 steps need three, 5 steps none)."""
    for decimals in range(4):
        if abs(round(step, decimals) - step) < step * 1e-6:
            return decimals
    return 3


def _fmt(value: float, percent: bool, decimals: int | None = None) -> str:
    if percent:
        return f"{value * 100:.{max((decimals or 0) - 2, 0)}f}%"
    if decimals is None:
        return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
    return f"{value:.{decimals}f}"


LABEL_CHARS = 18  # longer x labels are shortened (the bar's tooltip has the whole name)
CHAR_PX = 7.5  # a Thai or Latin character at the axis font size, roughly


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    percent: bool = False,
    y_max: float | None = None,
    description: str = "",
    label_every: int | None = None,
) -> Markup:
    """Grouped vertical bars, one group per label, one bar per series."""
    n = max(len(labels), 1)
    # Room for the rotated x labels below the plot and left of the first one, so that
    # long hospital names are not cut off at the edge of the chart.
    longest = max((len(_short(label)) for label in labels), default=0) * CHAR_PX
    bottom = max(MARGIN_BOTTOM, int(longest * 0.65) + 22)
    height = HEIGHT + bottom - MARGIN_BOTTOM
    left = MARGIN_LEFT
    group_w = (WIDTH - left - MARGIN_RIGHT) / n
    left = max(MARGIN_LEFT, int(longest * 0.77 - group_w / 2) + 6)
    plot_w = WIDTH - left - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    values = [v for s in series for v in s.values if v is not None]
    top = y_max if y_max is not None else _nice_max(max(values, default=0))
    decimals = _decimals(top / GRID_LINES * (100 if percent else 1)) + (2 if percent else 0)
    group_w = plot_w / n
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    every = label_every or max(1, -(-n // 16))  # at most ~16 x labels
    uid = f"chart{next(_ids)}"
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{uid}-t">{escape(title)}</title>',
        f'<desc id="{uid}-d">{escape(description)}</desc>',
    ]
    for i in range(GRID_LINES + 1):
        value = top * i / GRID_LINES
        y = MARGIN_TOP + plot_h - plot_h * i / GRID_LINES
        out.append(
            f'<line class="grid" x1="{left}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(_fmt(value, percent, decimals))}</text>'
        )
    for i, label in enumerate(labels):
        x0 = left + group_w * i + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            if value is None:
                continue
            h = plot_h * min(value, top) / top if top else 0
            x = x0 + bar_w * j
            y = MARGIN_TOP + plot_h - h
            out.append(
                f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}">'
                f"<title>{escape(label)} · {escape(s.name)}: "
                f"{escape(_fmt(value, percent))}</title></rect>"
            )
        if i % every == 0:
            cx = left + group_w * (i + 0.5)
            ly = MARGIN_TOP + plot_h + 14
            out.append(
                f'<text class="axis" x="{cx:.1f}" y="{ly}" text-anchor="end" '
                f'transform="rotate(-40 {cx:.1f} {ly})">{escape(_short(label))}</text>'
            )
    base = MARGIN_TOP + plot_h
    out.append(
        f'<line class="axis-line" x1="{left}" x2="{WIDTH - MARGIN_RIGHT}" y1="{base}" y2="{base}"/>'
    )
    out.append("</svg>")
    return Markup("".join(out))
