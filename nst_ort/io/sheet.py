"""Contact sheets: labelled images on a grid."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

LABEL_HEIGHT = 18
GAP = 6


def contact_sheet(cells: list[tuple[str, Image.Image]], columns: int, cell_side: int = 256) -> Image.Image:
    """Each (label, image) fitted into a `cell_side` square with its label underneath."""
    if not cells:
        raise ValueError("a contact sheet needs at least one image")
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    pitch_x, pitch_y = cell_side + GAP, cell_side + LABEL_HEIGHT + GAP
    sheet = Image.new("RGB", (columns * pitch_x + GAP, rows * pitch_y + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (label, image) in enumerate(cells):
        x, y = GAP + (index % columns) * pitch_x, GAP + (index // columns) * pitch_y
        thumb = image.copy()
        thumb.thumbnail((cell_side, cell_side), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x + (cell_side - thumb.width) // 2, y + (cell_side - thumb.height) // 2))
        draw.text((x + 2, y + cell_side + 3), label[:48], fill=(0, 0, 0), font=font)
    return sheet
