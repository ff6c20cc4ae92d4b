"""A dependency-free line plot (Pillow only) for benchmark results: loss vs seconds, log y."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def line_plot(series: dict[str, list[tuple[float, float]]], path: Path, title: str,
              x_label: str = "seconds", y_label: str = "loss (log)", size: tuple[int, int] = (800, 500)) -> None:
    """Each named series is a list of (x, y > 0) points; y is drawn on a log scale."""
    width, height = size
    left, right, top, bottom = 80, 20, 40, 50
    points = [p for values in series.values() for p in values if p[1] > 0]
    x_max = max(x for x, _ in points) or 1.0
    y_low, y_high = math.log10(min(y for _, y in points)), math.log10(max(y for _, y in points))
    y_high = y_high if y_high > y_low else y_low + 1

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        px = left + (width - left - right) * x / x_max
        py = top + (height - top - bottom) * (y_high - math.log10(y)) / (y_high - y_low)
        return px, py

    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    for decade in range(math.floor(y_low), math.ceil(y_high) + 1):
        if y_low <= decade <= y_high:
            _, py = to_pixel(0, 10.0 ** decade)
            draw.line([left, py, width - right, py], fill=(225, 225, 225))
            draw.text((8, py - 6), f"1e{decade}", fill=(0, 0, 0), font=font)
    for tick in range(6):
        x = x_max * tick / 5
        px, _ = to_pixel(x, 10.0 ** y_low)
        draw.text((px - 10, height - bottom + 6), f"{x:.0f}", fill=(0, 0, 0), font=font)
    draw.text((width // 2 - 30, height - 20), x_label, fill=(0, 0, 0), font=font)
    draw.text((8, 12), f"{title}   [{y_label}]", fill=(0, 0, 0), font=font)
    for index, (name, values) in enumerate(series.items()):
        color = COLORS[index % len(COLORS)]
        line = [to_pixel(x, y) for x, y in values if y > 0]
        if len(line) > 1:
            draw.line(line, fill=color, width=2)
        draw.text((width - right - 260, top + 10 + 14 * index), f"-- {name}", fill=color, font=font)
    image.save(path)
