"""Report charts drawn on the server as inline SVG: no script, no CDN, and they print as vectors.

Colours are SVG presentation attributes (not style attributes), so the page's
Content-Security-Policy (style-src 'self') leaves them alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from marketplace.reports.models import ReportTable

BAR = "#0f5e7a"
INK = "#1d2733"
MUTED = "#5a6675"
LINE = "#d8dee6"


def _number(value: float, percent: bool) -> str:
    return (
        f"{value * 100:.1f}%"
        if percent
        else f"{value:g}"
        if value == int(value)
        else f"{value:.2f}"
    )


def _tile_number(value: float) -> str:
    """A tile's figure in at most five characters (a tile is 46 px wide)."""
    if value <= 0:
        return "0"
    return _number(round(value, 0 if value >= 100 else 1 if value >= 10 else 2), False)


def bar_chart(table: ReportTable, *, max_rows: int = 40) -> Markup:
    """Horizontal bars of the table's chart column; rows without a value are left out."""
    chart = table.chart
    if chart is None:
        return Markup("")
    points = [
        (str(row.get(chart.label_key, "")), float(value))
        for row in table.rows
        if isinstance(value := row.get(chart.value_key), int | float)
    ][:max_rows]
    if not points:
        return Markup("")
    scale = chart.scale or max(v for _, v in points) or 1.0
    label_width, bar_width, value_width, row_height = 170, 360, 70, 22
    width = label_width + bar_width + value_width
    height = row_height * len(points) + 8
    parts = [
        f'<svg class="report-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for index, (label, value) in enumerate(points):
        y = 4 + index * row_height
        length = max(0.0, min(1.0, value / scale)) * bar_width
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12"'
            f' fill="{INK}">{escape(label[:14])}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{bar_width}" height="14" fill="{LINE}"/>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="14" fill="{BAR}"/>'
            f'<text x="{label_width + bar_width + 6}" y="{y + 15}" font-size="12"'
            f' fill="{MUTED}">{escape(_number(value, chart.percent))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every text and attribute value is escaped above


def lorenz_chart(points: Sequence[Sequence[float]], *, title: str, size: int = 220) -> Markup:
    """The Lorenz curve against the line of equality, in a square with 10% grid lines."""
    pad = 28
    inner = size - 2 * pad

    def xy(x: float, y: float) -> str:
        return f"{pad + x * inner:.1f},{pad + (1 - y) * inner:.1f}"

    grid = "".join(
        f'<line x1="{pad + i * inner / 10:.1f}" y1="{pad}" x2="{pad + i * inner / 10:.1f}"'
        f' y2="{pad + inner}" stroke="{LINE}" stroke-width="0.5"/>'
        f'<line x1="{pad}" y1="{pad + i * inner / 10:.1f}" x2="{pad + inner}"'
        f' y2="{pad + i * inner / 10:.1f}" stroke="{LINE}" stroke-width="0.5"/>'
        for i in range(11)
    )
    curve = " ".join(xy(x, y) for x, y in points)
    # Only numbers and the escaped title are interpolated.
    return Markup(  # noqa: S704
        f'<svg class="report-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}"'
        f' width="{size}" height="{size}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{grid}"
        f'<line x1="{pad}" y1="{pad + inner}" x2="{pad + inner}" y2="{pad}" stroke="{MUTED}"'
        f' stroke-dasharray="4 3"/>'
        f'<polyline points="{curve}" fill="none" stroke="{BAR}" stroke-width="2"/>'
        f'<text x="{pad + inner / 2}" y="{size - 6}" text-anchor="middle" font-size="11"'
        f' fill="{MUTED}">学生累计占比</text>'
        f'<text x="10" y="{pad + inner / 2}" font-size="11" fill="{MUTED}"'
        f' transform="rotate(-90 10 {pad + inner / 2})" text-anchor="middle">分配累计占比</text>'
        "</svg>"
    )


# Five sequential blues, light to dark (text on the two darkest tiles is white).
TILE_COLOURS = ("#eef5f8", "#c6e0ea", "#8fc1d4", "#3f8fae", "#0f5e7a")
ZERO_TILE = "#ffffff"


def tile_map(
    tiles: Sequence[tuple[str, str, float]],
    *,
    title: str,
    unit: str,
    columns: int = 14,
    variant: str = "",
) -> Markup:
    """A tile map of the province: one square per district, a row band per city, coloured by
    the value per 10,000 students (`tiles`: city, district, value), in five equal-count classes;
    districts with nothing are white. Drawn as SVG on the server; `variant` names the layout
    (a CSS class tile-map-<variant>), e.g. a narrow one whose tiles stay legible on a phone."""
    if not tiles:
        return Markup("")
    positive = sorted(v for _, _, v in tiles if v > 0)

    def colour(value: float) -> tuple[str, str]:
        if value <= 0 or not positive:
            return ZERO_TILE, INK
        rank = (sum(1 for v in positive if v < value) + 1) / len(positive)  # in (0, 1]
        index = min(len(TILE_COLOURS) - 1, int(rank * len(TILE_COLOURS) - 1e-9))
        return TILE_COLOURS[index], "#ffffff" if index >= 3 else INK

    cities: dict[str, list[tuple[str, float]]] = {}
    for city, district, value in tiles:
        cities.setdefault(city, []).append((district, value))
    tile, gap, label_width = 46, 4, 64
    rows = sum(-(-len(ds) // columns) for ds in cities.values())
    width = label_width + columns * (tile + gap)
    # One legend entry per class that holds a district, from its smallest value (with few
    # districts served, equal-count classes would otherwise repeat the same threshold); the
    # entries wrap onto more lines on a narrow map.
    lows: dict[str, float] = {}
    for value in positive:
        lows.setdefault(colour(value)[0], value)
    per_row = max(1, (width - label_width - 50) // 60)
    legend_rows = max(1, -(-len(lows) // per_row))
    height = rows * (tile + gap) + len(cities) * 6 + 40 + (legend_rows - 1) * 24
    parts = [
        f'<svg class="report-chart tile-map{f" tile-map-{variant}" if variant else ""}"'
        ' xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    y = 0
    for city, districts in cities.items():
        parts.append(
            f'<text x="0" y="{y + 28}" font-size="12" fill="{INK}">{escape(city[:5])}</text>'
        )
        for index, (district, value) in enumerate(districts):
            row, col = divmod(index, columns)
            x, top = label_width + col * (tile + gap), y + row * (tile + gap)
            fill, ink = colour(value)
            parts.append(
                f"<g><title>{escape(city)} {escape(district)}：每万名学生 {value:.2f}{escape(unit)}"
                f"</title>"
                f'<rect x="{x}" y="{top}" width="{tile}" height="{tile}" rx="4" fill="{fill}"'
                f' stroke="{LINE}"/>'
                f'<text x="{x + tile / 2}" y="{top + 20}" font-size="11" text-anchor="middle"'
                f' fill="{ink}">{escape(district[:3])}</text>'
                f'<text x="{x + tile / 2}" y="{top + 36}" font-size="10" text-anchor="middle"'
                f' fill="{ink}">{_tile_number(value)}</text></g>'
            )
        y += -(-len(districts) // columns) * (tile + gap) + 6
    legend_y = y + 10
    parts.append(
        f'<text x="0" y="{legend_y + 13}" font-size="11" fill="{MUTED}">每万名学生</text>'
        f'<rect x="{label_width}" y="{legend_y}" width="18" height="18" fill="{ZERO_TILE}"'
        f' stroke="{LINE}"/><text x="{label_width + 22}" y="{legend_y + 13}" font-size="11"'
        f' fill="{MUTED}">0</text>'
    )
    for index, (fill, low) in enumerate(lows.items()):
        x = label_width + 50 + (index % per_row) * 60
        top = legend_y + (index // per_row) * 24
        parts.append(
            f'<rect x="{x}" y="{top}" width="18" height="18" fill="{fill}" stroke="{LINE}"/>'
            f'<text x="{x + 22}" y="{top + 13}" font-size="11" fill="{MUTED}">'
            f"≥{_number(round(low, 2), False)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every name and the title are escaped above
