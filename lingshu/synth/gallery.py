"""A contact sheet of synthetic samples (images with their boxes, questions and answers) for people to look at.

Yield numbers say how much was kept; only looking says whether what was kept is any good, so the stage
writes one PNG of tiles (logged to MLflow and shown by `dvc plots`), chosen across generators.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from lingshu.io import atomic_write_bytes
from lingshu.synth.render import wrap

TILE, TEXT_HEIGHT, PAD = 256, 150, 8


def tile(image: Image.Image, title: str, text: str) -> Image.Image:
    font = ImageFont.load_default(size=12)
    bold = ImageFont.load_default(size=13)
    canvas = Image.new("RGB", (TILE, TILE + TEXT_HEIGHT), "white")
    thumb = image.convert("RGB").copy()
    thumb.thumbnail((TILE, TILE))
    canvas.paste(thumb, ((TILE - thumb.width) // 2, (TILE - thumb.height) // 2))
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, TILE + 4), title, fill=(150, 0, 0), font=bold)
    lines = wrap(text, font, TILE - 2 * PAD)[:9]
    for i, line in enumerate(lines):
        draw.text((PAD, TILE + 22 + i * 14), line, fill="black", font=font)
    return canvas


def contact_sheet(tiles: list[Image.Image], columns: int = 4) -> Image.Image:
    rows = max(1, -(-len(tiles) // columns))
    width, height = TILE + PAD, TILE + TEXT_HEIGHT + PAD
    sheet = Image.new("RGB", (columns * width + PAD, rows * height + PAD), (230, 230, 230))
    for i, piece in enumerate(tiles):
        sheet.paste(piece, (PAD + (i % columns) * width, PAD + (i // columns) * height))
    return sheet


def write_gallery(entries: list[tuple[Path, str, str]], out: Path) -> Path:
    """entries: (image file, title, text); writes the sheet as PNG at `out`."""
    tiles = []
    for path, title, text in entries:
        with Image.open(path) as image:
            tiles.append(tile(image, title, text))
    buffer = io.BytesIO()
    contact_sheet(tiles).save(buffer, format="PNG")
    atomic_write_bytes(out, buffer.getvalue())
    return out
