"""Exam questions drawn as images for the OCR generator: varied fonts and sizes, slight rotation, noise.

A model that must read questions off scans and screenshots needs pages that do not all look alike, so
each page gets a seeded style (font, size, ink and paper tones, rotation, Gaussian noise, JPEG quality);
the style is recorded with the sample so any page can be redrawn exactly.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lingshu.synth.config import OcrConfig

MARGIN = 24


@dataclass(frozen=True)
class PageStyle:
    font: str
    size: int
    ink: int
    paper: int
    noise: float
    rotation: float
    jpeg_quality: int

    def as_dict(self) -> dict:
        return asdict(self)


def sample_style(rng: random.Random, cfg: OcrConfig) -> PageStyle:
    low, high = sorted(cfg.jpeg_quality)
    return PageStyle(
        font=rng.choice(list(cfg.fonts)), size=int(rng.choice(list(cfg.font_sizes))),
        ink=rng.randint(0, 60), paper=rng.randint(215, 255),
        noise=round(rng.uniform(0.0, cfg.max_noise), 2),
        rotation=round(rng.uniform(-cfg.max_rotation, cfg.max_rotation), 2),
        jpeg_quality=rng.randint(int(low), int(high)),
    )


def load_font(name: str, size: int, repo: Path) -> ImageFont.FreeTypeFont:
    if name == "default":
        return ImageFont.load_default(size=size)
    path = repo / name
    if not path.is_file():
        raise FileNotFoundError(f"synthesize.ocr.fonts: font file {path} does not exist")
    return ImageFont.truetype(str(path), size)


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines no wider than `width` pixels (a word longer than the line goes on a line of its own)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def render_page(text: str, style: PageStyle, width: int, repo: Path) -> Image.Image:
    """The text on a page of `width` pixels, styled; JPEG quality is applied when the page is stored."""
    font = load_font(style.font, style.size, repo)
    lines = wrap(text, font, width - 2 * MARGIN)
    line_height = int(style.size * 1.35)
    page = Image.new("L", (width, 2 * MARGIN + line_height * len(lines)), style.paper)
    draw = ImageDraw.Draw(page)
    for i, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + i * line_height), line, fill=style.ink, font=font)
    if style.rotation:
        page = page.rotate(style.rotation, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=style.paper)
    if style.noise:
        pixels = np.asarray(page, dtype=np.float32)
        seed = int(hashlib.sha256(f"{text}\n{style}".encode()).hexdigest()[:8], 16)  # str hash() is salted per process
        noise = np.random.default_rng(seed).normal(0.0, style.noise, pixels.shape)
        page = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    return page.convert("RGB")
