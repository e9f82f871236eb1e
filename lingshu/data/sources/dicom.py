"""DICOM files (every DICOM file of a folder, by content) converted to 8-bit PNG with proper windowing.

Grayscale images go through the modality LUT (rescale slope/intercept) and the VOI LUT or the stored
window centre/width; without a window, the 0.5-99.5 percentile range is used. MONOCHROME1 is inverted,
palette colour is expanded, multi-frame series contribute their middle frame. Modality, body part and
the descriptive tags are kept as fields; a short caption is written from that metadata (recipe step 1
of long-caption synthesis), and the caption-length filter decides whether it is long enough to keep.

DICOM has no required file suffix (scanners write IM0001, 1.2.840...), so every file below the folder is a
record: a file with the DICM preamble or a .dcm name is read; any other file is rejected as `not_dicom`,
never skipped unseen. A record's id is its path inside the folder without the suffix (`series1/IM0001`), so
same-named files in two subfolders stay two records. Pixel data that cannot be turned into an image (a
palette without its lookup table, a decoder failure) is a rejection with the reason, never a crash; a
window width below 1 (invalid) falls back to the percentile window.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, ImageSource, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import finish, normalise_modality, qa_turns, rel, reject

MODALITY_NAMES = {
    "x-ray": "Radiograph", "ct": "CT image", "mri": "MRI image", "ultrasound": "Ultrasound image",
    "nuclear": "Nuclear medicine scan", "pet": "PET image",
}
PROMPT = "Describe this medical image."
DESCRIPTIVE_TAGS = ("StudyDescription", "SeriesDescription", "BodyPartExamined", "ViewPosition", "PatientPosition")


def _usable_window(ds) -> bool:
    """A VOI LUT sequence, or window centre/width pairs whose every width is at least 1 (PS3.3 C.11.2.1.2)."""
    if "VOILUTSequence" in ds:
        return True
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return False
    widths = ds.WindowWidth if ds["WindowWidth"].VM > 1 else [ds.WindowWidth]
    return all(float(width) >= 1 for width in widths)


def _window(pixels: np.ndarray, ds) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    data = apply_modality_lut(pixels, ds).astype(np.float64)
    if _usable_window(ds):
        data = apply_voi_lut(data, ds, index=0).astype(np.float64)
        low, high = float(data.min()), float(data.max())
    else:
        low, high = np.percentile(data, [0.5, 99.5])
    scaled = np.clip((data - low) / max(high - low, 1e-6), 0.0, 1.0)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        scaled = 1.0 - scaled
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def _to_image(pixels: np.ndarray, ds, apply_color_lut) -> Image.Image:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames > 1:
        pixels = pixels[frames // 2]
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        if "RedPaletteColorLookupTableDescriptor" not in ds and "SegmentedRedPaletteColorLookupTableData" not in ds:
            raise BadRecord("unreadable_dicom", "PALETTE COLOR pixels without a palette colour lookup table")
        rgb = apply_color_lut(pixels, ds)
        return Image.fromarray((rgb / max(float(rgb.max()), 1.0) * 255).astype(np.uint8), "RGB")
    if samples == 3:
        return Image.fromarray(pixels.astype(np.uint8) if pixels.dtype != np.uint8 else pixels, "RGB")
    return Image.fromarray(_window(pixels, ds), "L")


def is_dicom(path: Path) -> bool:
    """A file DICOM Part 10 says is DICOM: "DICM" after the 128-byte preamble (or, failing that, a .dcm name)."""
    if path.suffix.lower() == ".dcm":
        return True
    with path.open("rb") as fh:
        return fh.read(132)[128:] == b"DICM"


def dicom_to_png(path: Path) -> bytes:
    """Decode one DICOM file to PNG bytes; BadRecord when it has no usable pixel data."""
    import pydicom
    from pydicom.pixels import apply_color_lut

    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises many types for damaged files
        raise BadRecord("unreadable_dicom", f"{type(exc).__name__}: {exc}") from exc
    if "PixelData" not in ds:
        raise BadRecord("dicom_no_pixel_data", f"{path.name} has no PixelData element")
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise BadRecord("unreadable_dicom", f"pixel data: {type(exc).__name__}: {exc}") from exc
    try:
        image = _to_image(pixels, ds, apply_color_lut)
    except BadRecord:
        raise
    except Exception as exc:  # a header the pixels contradict: pydicom and numpy raise ValueError, TypeError, ...
        raise BadRecord("unreadable_dicom", f"pixel conversion: {type(exc).__name__}: {exc}") from exc
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def metadata_caption(modality: str | None, tags: dict[str, str]) -> str:
    what = MODALITY_NAMES.get(modality or "", "Medical image")
    parts = [what + (f" of the {tags['BodyPartExamined'].lower()}" if tags.get("BodyPartExamined") else "") + "."]
    if tags.get("ViewPosition"):
        parts.append(f"{tags['ViewPosition']} view.")
    for tag in ("StudyDescription", "SeriesDescription"):
        if tags.get(tag):
            parts.append(f"{tag.replace('Description', '')} description: {tags[tag]}.")
    return " ".join(parts)


@register("dicom_dir")
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    import pydicom

    folder = repo / src.path
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        file, record_id = rel(path, repo), path.relative_to(folder).with_suffix("").as_posix()
        try:
            if not is_dicom(path):
                raise BadRecord("not_dicom", f"{path.name} has no DICM preamble and no .dcm suffix")
            try:
                ds = pydicom.dcmread(path, defer_size=1024)  # large values (pixels) stay on disk
            except Exception as exc:
                raise BadRecord("unreadable_dicom", f"{type(exc).__name__}: {exc}") from exc
            if "PixelData" not in ds:
                raise BadRecord("dicom_no_pixel_data", f"{path.name} has no PixelData element")
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, "file")
            continue
        tags = {t: str(ds.get(t, "") or "").strip() for t in DESCRIPTIVE_TAGS}
        modality = normalise_modality(ds.get("Modality"))
        body = tags["BodyPartExamined"].lower() or None
        image = ImageSource(ref=file, read=lambda p=path: dicom_to_png(p), modality=modality)
        yield finish(
            Sample(
                id=f"{src.name}:{record_id}",
                source=src.name,
                group=src.group,
                task="caption",
                conversations=qa_turns(PROMPT, metadata_caption(modality, tags), 1),
                images=[image],
                modality=modality,
                modality_source="metadata" if modality else None,
                body_part=body,
                licence=src.licence,
                split=src.split,
                provenance_file=file,
                provenance_record="file",
                meta={"dicom_modality": str(ds.get("Modality", "")), **{k: v for k, v in tags.items() if v}},
            )
        )
