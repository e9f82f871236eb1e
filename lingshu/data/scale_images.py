"""The images of the scale corpus (lingshu.data.scale_corpus): procedural originals, their re-encoded
copies and broken files, each checked against what curation will see.

An original is a smooth random field (a few random values upscaled, plus grain) in one of four
styles that loosely look like a radiograph, a CT slice, an ultrasound fan and a colour photograph, so the
modality classifier has something to learn. Its pHash is lingshu's own (`images.inspect_image`, with the
curate config's JPEG decoding), and the caller regenerates an original whose pHash is already taken:
two distinct originals must never be an exact pHash duplicate, or the answer key would be wrong.

A re-encoded copy is the same picture saved again — JPEG at another quality, or resized — and is kept
only when its pHash equals the original's (a lossy re-encoding flips a bit about half the time); when no
variant does, the copy is the same pixels as a PNG with a text chunk, which is always the same pHash
and never the same bytes. Broken files are built to fail one check each: corrupt, truncated, zero-byte,
1x1, and a PNG header declaring a decompression bomb.
"""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

from lingshu.config import CurateConfig
from lingshu.data.images import inspect_image

STYLES = {"x-ray": "field", "ct": "disc", "ultrasound": "fan", "dermoscopy": "colour"}
BROKEN = {  # how each broken file fails, as curation names it
    "corrupt_image": "unreadable_image",
    "truncated_image": "unreadable_image",
    "zero_byte_image": "empty_file",
    "one_pixel_image": "image_too_small",
    "bomb_image": "decompression_bomb",
}


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _field(rng: np.random.Generator, width: int, height: int, channels: int) -> np.ndarray:
    """A smooth random field of shape (height, width, channels) in 0..255 (float)."""
    cells = int(rng.integers(3, 8))
    layers = []
    for _ in range(channels):
        small = Image.fromarray(rng.integers(0, 256, (cells, cells), dtype=np.uint8), "L")
        layers.append(np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32))
    return np.stack(layers, axis=-1)


def _mask(style: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Where the picture is (1) and the dark background is (0), for the styles that have one."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.4, 0.6)
    if style == "disc":
        rx, ry = width * rng.uniform(0.3, 0.48), height * rng.uniform(0.3, 0.48)
        return (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1).astype(np.float32)
    if style == "fan":
        angle = np.arctan2(x - cx, y + 0.0)
        spread = rng.uniform(0.4, 0.8)
        return ((np.abs(angle) <= spread) & (np.hypot(x - cx, y) <= height * rng.uniform(0.8, 1.0))).astype(np.float32)
    return np.ones((height, width), np.float32)


def original(seed: int, index: int, modality: str, min_side: int) -> Image.Image:
    """Original image `index` of a corpus: depends only on (seed, index, modality); sides min_side..2*min_side."""
    rng = np.random.default_rng([seed, index])
    width, height = (int(v) for v in rng.integers(min_side, 2 * min_side + 1, 2))
    style = STYLES[modality]
    channels = 3 if style == "colour" else 1
    pixels = _field(rng, width, height, channels) * _mask(style, rng, width, height)[..., None]
    pixels += rng.normal(0, 10 if style == "fan" else 5, pixels.shape)
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, "L" if channels == 1 else "RGB")


def phash(data: bytes, cfg: CurateConfig) -> int:
    """The pHash curation computes for these bytes."""
    return inspect_image(data, 1, cfg.max_image_pixels, cfg.jpeg_draft)[0].phash


def reencoded(image: Image.Image, data: bytes, target: int, cfg: CurateConfig, rng) -> tuple[bytes, str]:
    """(bytes, extension) of the same picture saved again, with the same pHash as `target` and other bytes.

    `image` is the picture as decoded from `data`."""
    variants = [("JPEG", image, {"quality": rng.choice((70, 80, 95))}),
                ("JPEG", image.resize((max(cfg.min_image_side, round(image.width * 1.25)),
                                       max(cfg.min_image_side, round(image.height * 1.25))),
                                      Image.Resampling.LANCZOS), {"quality": 90}),
                ("PNG", image, {"optimize": True})]
    for fmt, picture, options in variants:
        copy = encode(picture, fmt, **options)
        if copy != data and phash(copy, cfg) == target:
            return copy, "jpg" if fmt == "JPEG" else "png"
    if data[:2] == b"\xff\xd8":  # the same JPEG with a comment segment: the same pixels in any decoding
        comment = b"re-encoded copy"
        copy, ext = data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:], "jpg"
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "re-encoded copy")
        copy, ext = encode(image, "PNG", pnginfo=info), "png"
    if phash(copy, cfg) != target:
        raise AssertionError("a copy with the same pixels has another pHash")
    return copy, ext


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(max_pixels: int) -> bytes:
    """A tiny PNG whose header declares more than `max_pixels` pixels (a decompression bomb)."""
    side = math.isqrt(max_pixels) + 1
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def broken(kind: str, image: Image.Image, cfg: CurateConfig) -> tuple[bytes, str]:
    """(bytes, extension) of a broken file of `kind` (a key of BROKEN) made from `image`."""
    if kind == "zero_byte_image":
        return b"", "png"
    if kind == "one_pixel_image":
        return encode(image.resize((1, 1)), "PNG"), "png"
    if kind == "bomb_image":
        return bomb_png(cfg.max_image_pixels), "png"
    data = encode(image, "JPEG", quality=90)
    if kind == "truncated_image":
        return data[: len(data) // 2], "jpg"
    if kind == "corrupt_image":  # the start-of-image marker, then garbage where the headers were
        return data[:2] + b"\x00" * 64 + data[66:], "jpg"
    raise KeyError(kind)

