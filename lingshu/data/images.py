"""Checking and fingerprinting one image: readable, not a bomb, big enough, and its pHash.

Everything that can go wrong with an image file becomes a `BadRecord` with a reason code, never an
exception that stops the run. The pHash is imagehash's DCT hash; for JPEGs it can be computed from a
reduced-scale decode (PIL draft mode), which is ~7x faster but measurably changes which re-encoded
copies are found (benchmarks/bench_image_dedup.py), so it is off by default; the full decode gives exactly
imagehash's pHash (tests/test_images.py).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

STORED_FORMATS = {"JPEG": "jpg", "PNG": "png"}
THUMBNAIL = 32


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    ext: str
    width: int
    height: int
    phash: int
    thumbnail: bytes  # THUMBNAIL x THUMBNAIL grayscale, the modality classifier's features
    saturation: float  # mean HSV saturation: colour images (charts, photos, ultrasound doppler) vs grayscale


def phash_int(image: Image.Image) -> int:
    return int(str(imagehash.phash(image)), 16)


def _without_addresses(message: str) -> str:
    """PIL names the buffer it read as `<_io.BytesIO object at 0x...>`: a memory address in a rejection's
    detail would make two runs' rejected tables differ."""
    return re.sub(r"<([\w.]+) object at 0x[0-9a-f]+>", r"<\1>", message)


def inspect_image(data: bytes, min_side: int, max_pixels: int, jpeg_draft: bool = True) -> tuple[ImageInfo, bytes]:
    """Validate encoded image bytes; return their fingerprint and the bytes to store (PNG if re-encoded)."""
    if not data:
        raise_bad("empty_file", "zero-byte image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise_bad("decompression_bomb", f"declares {width}x{height} pixels (limit {max_pixels})")
            if min(width, height) < min_side:
                raise_bad("image_too_small", f"{width}x{height}, shorter side < {min_side}")
            fmt = image.format or ""
            if jpeg_draft and fmt == "JPEG":
                image.draft("L", (4 * THUMBNAIL, 4 * THUMBNAIL))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise_bad("decompression_bomb", str(exc))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise_bad("unreadable_image", f"{type(exc).__name__}: {_without_addresses(str(exc))}")
    saturation = 0.0
    if image.mode not in ("L", "1", "I", "I;16", "F"):
        saturation = float(np.asarray(image.convert("RGB").convert("HSV"))[..., 1].mean() / 255.0)
    gray = image.convert("L")
    thumb = gray.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR).tobytes()
    stored = data
    ext = STORED_FORMATS.get(fmt)
    if ext is None:  # BMP, TIFF, GIF, WebP...: normalise to PNG
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").save(buffer, format="PNG")
        stored, ext = buffer.getvalue(), "png"
    info = ImageInfo(hashlib.sha256(stored).hexdigest(), ext, width, height, phash_int(gray), thumb, saturation)
    return info, stored


def thumbnail_features(info: ImageInfo) -> np.ndarray:
    """Classifier features: the normalised thumbnail, a 16-bin histogram, aspect ratio and colourfulness."""
    pixels = np.frombuffer(info.thumbnail, dtype=np.uint8).astype(np.float32) / 255.0
    histogram = np.histogram(pixels, bins=16, range=(0.0, 1.0))[0] / pixels.size
    extra = np.array([info.width / max(info.height, 1), info.saturation, pixels.mean(), pixels.std()], np.float32)
    return np.concatenate([pixels, histogram.astype(np.float32), extra])


def raise_bad(reason: str, detail: str):
    from lingshu.data.schema import BadRecord

    raise BadRecord(reason, detail)
