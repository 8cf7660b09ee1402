"""Server-rendered SVG charts: no JavaScript, no CDN, no inline styles (the CSP forbids them).

Colours and text come from classes styled in `agents/static/agents/usage.css`; every bar has a
<title> (its value, for hover and screen readers), and each chart sits beside a table with the
same numbers. Geometry is in a fixed viewBox; the CSS scales the chart to its container.
"""

from __future__ import annotations

import datetime as dt

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 220
LEFT, BOTTOM, TOP = 48, 24, 10
SERIES_CLASSES = 8  # usage.css defines .series-0 ... .series-7


def _n(value: float) -> str:
    """A coordinate as text (format_html escapes its arguments to strings before formatting)."""
    return f"{value:.1f}"


def _scale(maximum: int) -> int:
    """A round top for the y axis, at least the maximum."""
    if maximum <= 0:
        return 1
    magnitude = 10 ** (len(str(maximum)) - 1)
    for step in (1, 2, 5, 10):
        if maximum <= step * magnitude:
            return step * magnitude
    return maximum


def bar_chart(*, title: str, days: list[dt.date], series: dict[str, list[int]]) -> SafeString:
    """Stacked bars per day, one class per series (its legend below)."""
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(days))]
    top = _scale(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    parts: list[SafeString] = []
    for i, day in enumerate(days):
        y = TOP + plot_h
        for k, name in enumerate(names):
            value = series[name][i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                format_html(
                    '<rect class="bar series-{}" x="{}" y="{}" width="{}" height="{}"><title>{} {}: {}</title></rect>',
                    k % SERIES_CLASSES,
                    _n(LEFT + i * slot + (slot - bar_w) / 2),
                    _n(y),
                    _n(bar_w),
                    _n(h),
                    day.isoformat(),
                    name,
                    value,
                )
            )
    labels = [(0, days[0]), (len(days) - 1, days[-1])] if days else []
    axis = format_html_join(
        "",
        '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        ((_n(LEFT + i * slot + slot / 2), HEIGHT - 6, day.strftime("%b %d")) for i, day in labels),
    )
    legend = format_html_join(
        "", '<li><span class="swatch series-{}"></span>{}</li>', ((k % SERIES_CLASSES, n) for k, n in enumerate(names))
    )
    svg = format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<text class="axis-label" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="axis-label" x="{}" y="{}" text-anchor="end">0</text>{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        LEFT,
        TOP + plot_h,
        WIDTH,
        TOP + plot_h,
        LEFT - 4,
        TOP + 10,
        top,
        LEFT - 4,
        TOP + plot_h,
        mark_safe("".join(parts)),  # each part came from format_html
        axis,
    )
    return format_html('<figure class="chart-figure">{}<ul class="legend">{}</ul></figure>', svg, legend)
