"""The dashboard's charts as inline SVG, drawn on the server: no script, no external asset, printable.

Each chart is an image with a title and a text description of every value (what a screen reader reads
and what a reader of the printed page can check), and the same figures are in a table on its page.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

from services.monitoring.i18n import MISSING

INK, MUTED, BAR, ACCENT, GRID, PALE = "#1b1b1b", "#595959", "#1f5f8b", "#b3261e", "#d0d0d0", "#e8eef3"
FONT = 'font-family="system-ui, sans-serif" font-size="13"'
WIDTH = 640


def _svg(title: str, description: str, height: int, body: list[str]) -> Markup:
    ident = "c" + hashlib.sha1(f"{title}\n{description}".encode()).hexdigest()[:10]
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="{ident}-t {ident}-d" {FONT}>'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(description)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, content: str, anchor: str = "start", fill: str = INK, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>{escape(content)}</text>'
    )


def funnel(
    rows: Sequence[tuple[str, int]], whole: int, *, title: str, fmt: Callable[[int], str] = str
) -> Markup:
    """One bar per step, as long as the share of ``whole`` (the target kelurahan) that has done it."""
    label_width, row, top = 250, 28, 8
    span = WIDTH - label_width - 70
    body = []
    for n, (label, count) in enumerate(rows):
        y = top + n * row
        length = span * count / whole if whole else 0
        body += [
            _text(label_width - 8, y + 17, label, "end"),
            f'<rect x="{label_width}" y="{y + 4}" width="{span}" height="{row - 8}" fill="{PALE}"/>',
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{BAR}"/>',
            _text(label_width + span + 6, y + 17, fmt(count)),
        ]
    description = "; ".join(f"{label}: {fmt(count)}" for label, count in rows) + f" (/{fmt(whole)})"
    return _svg(title, description, top * 2 + row * max(len(rows), 1), body)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (an axis' top)."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    return next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= value)


def monthly_bars(
    rows: Sequence[tuple[str, int]], *, title: str, fmt: Callable[[int], str], month: Callable[[str], str]
) -> Markup:
    """A bar per month (``YYYY-MM``, amount); the axis' top and bottom are labelled, and every month
    when there are few, else every few months."""
    left, right, top, bottom, height = 120, 10, 12, 34, 230
    plot = height - top - bottom
    body = []
    ceiling = _nice_ceiling(max((v for _, v in rows), default=0))
    for fraction in (0, 0.5, 1):
        y = top + plot * (1 - fraction)
        body += [
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}"/>',
            _text(left - 6, y + 4, fmt(round(ceiling * fraction)), "end", MUTED),
        ]
    if rows:
        slot = (WIDTH - left - right) / len(rows)
        every = math.ceil(len(rows) / 12)
        for n, (key, value) in enumerate(rows):
            x, h = left + n * slot, plot * value / ceiling
            tip = f"{month(key)}: {fmt(value)}"
            body.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot - h:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{BAR}"><title>{escape(tip)}</title></rect>'
            )
            if n % every == 0:
                body.append(_text(x + slot / 2, height - bottom + 18, month(key), "middle", MUTED))
    description = "; ".join(f"{month(k)}: {fmt(v)}" for k, v in rows) or MISSING
    return _svg(title, description, height, body)


def trend(
    points: Sequence[tuple[str, float | None]], *, title: str, fmt: Callable[[float | None], str]
) -> Markup:
    """A line through a percentage at each labelled point (a missing value breaks the line)."""
    left, right, top, bottom, height = 60, 20, 12, 34, 220
    plot, span = height - top - bottom, WIDTH - left - right
    ceiling = min(100.0, _nice_ceiling(max((v for _, v in points if v is not None), default=0) or 10))
    body = []
    for fraction in (0, 0.5, 1):
        y = top + plot * (1 - fraction)
        body += [
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}"/>',
            _text(left - 6, y + 4, fmt(ceiling * fraction), "end", MUTED),
        ]
    step = span / max(len(points) - 1, 1)
    every = math.ceil(len(points) / 8)
    runs: list[list[str]] = [[]]
    for n, (label, value) in enumerate(points):
        x = left + n * step if len(points) > 1 else left + span / 2
        if n % every == 0:
            body.append(_text(x, height - bottom + 18, label, "middle", MUTED))
        if value is None:
            runs.append([])
            continue
        y = top + plot * (1 - value / ceiling)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{ACCENT}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></circle>"
        )
    lines = [
        f'<polyline points="{" ".join(run)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>'
        for run in runs
        if len(run) > 1
    ]
    description = "; ".join(f"{label}: {fmt(value)}" for label, value in points) or MISSING
    return _svg(title, description, height, lines + body)


def stage_steps(labels: Sequence[str], current: int, *, title: str, current_note: str) -> Markup:
    """The stages in order as numbered circles: those passed filled, the current one ringed and bold."""
    height, radius = 86, 13
    slot = WIDTH / max(len(labels), 1)
    body = []
    for n, label in enumerate(labels):
        x = slot * (n + 0.5)
        if n:
            color = BAR if n <= current else GRID
            body.append(
                f'<line x1="{x - slot + radius:.1f}" y1="28" x2="{x - radius:.1f}" y2="28" '
                f'stroke="{color}" stroke-width="3"/>'
            )
        reached = n <= current
        body.append(
            f'<circle cx="{x:.1f}" cy="28" r="{radius}" fill="{BAR if reached else "#ffffff"}" '
            f'stroke="{ACCENT if n == current else (BAR if reached else MUTED)}" '
            f'stroke-width="{4 if n == current else 2}"/>'
        )
        body.append(_text(x, 33, str(n + 1), "middle", "#ffffff" if reached else MUTED))
        weight = ' font-weight="bold"' if n == current else ""
        body.append(_text(x, 66, label, "middle", INK if reached else MUTED, weight))
    shown = labels[current] if 0 <= current < len(labels) else MISSING
    description = f"{' → '.join(labels)}. {current_note}: {shown}"
    return _svg(title, description, height, body)


def radar(points: Sequence[tuple[str, float | None]], *, title: str, unknown: str) -> Markup:
    """One axis per criterion, 0 at the centre to 100 % at the rim; an unknown value sits at 0, marked."""
    height, cx, cy, radius = 360, WIDTH / 2, 180, 130
    count = max(len(points), 3)
    body = []

    def at(n: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * n / count
        return cx + radius * value / 100 * math.cos(angle), cy + radius * value / 100 * math.sin(angle)

    for ring in (25, 50, 75, 100):
        ring_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(n, ring) for n in range(count)))
        body.append(f'<polygon points="{ring_points}" fill="none" stroke="{GRID}"/>')
    for n, (label, value) in enumerate(points):
        x, y = at(n, 100)
        body.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        lx, ly = at(n, 118)
        anchor = "middle" if abs(lx - cx) < 20 else ("start" if lx > cx else "end")
        shown = f"{label} ({unknown})" if value is None else f"{label} {value:g}%"
        body.append(_text(lx, ly + 4, shown, anchor, MUTED if value is None else INK))
    shape = " ".join(
        f"{x:.1f},{y:.1f}" for x, y in (at(n, min(v or 0, 100)) for n, (_, v) in enumerate(points))
    )
    body.append(
        f'<polygon points="{shape}" fill="{BAR}" fill-opacity="0.35" stroke="{BAR}" stroke-width="2"/>'
    )
    description = "; ".join(f"{label}: {unknown if v is None else f'{v:g}%'}" for label, v in points)
    return _svg(title, description, height, body)
