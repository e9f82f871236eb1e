"""Regions of interest for long-caption synthesis: segmentation masks -> minimal boxes drawn on the image.

Step 2 of the recipe's long-caption synthesis grounds a caption in *where* the anatomy or lesion is: every
connected region of a segmentation mask becomes the smallest box around it, and the box is drawn on the
displayed slice so that a captioner (and later the VLM) can refer to it. 3-D data is cut into 2-D slices
first (NIfTI volumes along z, DICOM Segmentation objects frame by frame), and only slices whose mask is
not empty are candidates.

Readers never raise on bad data: an unreadable file, a mask that does not match its image or a segmentation
whose source image is not available becomes a `RoiRejection` with a reason, so the generator's yield can be
accounted for. Configuration mistakes (unknown kind, missing or unknown option) do raise `ValueError`.

Boxes use PIL's convention: `x1`/`y1` are exclusive, so `image.crop(box.as_list())` is exactly the region.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw

from lingshu.data.schema import MODALITIES
from lingshu.data.sources.common import normalise_modality, rel

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
DISPLAY_PERCENTILES = (1.0, 99.0)
# Distinct, saturated colours that stay visible on grayscale images; a label always gets the same one.
PALETTE = (
    (255, 0, 0), (0, 255, 0), (0, 128, 255), (255, 255, 0),
    (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 0, 255),
)


@dataclass(frozen=True)
class Box:
    """A tight box around one region, in pixel coordinates with exclusive `x1`/`y1` (PIL-style)."""

    x0: int
    y0: int
    x1: int
    y1: int
    label: str

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass
class RoiSlice:
    """One 2-D display image with the boxes of its regions of interest."""

    id: str  # stable: "<file stem>:frame=N" (0-based frame index) or "<file stem>:z=N"
    ref: str  # repo-relative file + "#frame=N" / "#z=N"
    image: Image.Image  # 8-bit display image ("L" or "RGB"), windowed
    boxes: list[Box]
    modality: str | None  # one of lingshu.data.schema.MODALITIES
    body_part: str | None
    source_file: str  # repo-relative path of the file the slice came from


@dataclass
class RoiRejection:
    """A slice (or a whole file) that could not become a `RoiSlice`, and why."""

    id: str
    ref: str
    reason: str
    detail: str
    source_file: str


def minimal_boxes(mask: np.ndarray, labels: dict[int, str] | None = None, min_pixels: int = 1) -> list[Box]:
    """One tight box per 8-connected component of each non-zero label value of a 2-D mask.

    `labels` maps a value to its name (default: `str(value)`); components smaller than `min_pixels` are
    ignored. Boxes are sorted by (label, y0, x0).
    """
    from scipy import ndimage

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"minimal_boxes needs a 2-D mask, got shape {mask.shape}")
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"minimal_boxes needs an integer label mask, got dtype {mask.dtype}")
    labels = labels or {}
    eight_connected = np.ones((3, 3), dtype=bool)
    boxes = []
    for value in np.unique(mask):
        if value == 0:
            continue
        components, count = ndimage.label(mask == value, structure=eight_connected)
        sizes = np.bincount(components.ravel(), minlength=count + 1)
        name = labels.get(int(value), str(int(value)))
        for number, (rows, cols) in enumerate(ndimage.find_objects(components), start=1):
            if sizes[number] >= min_pixels:
                boxes.append(Box(int(cols.start), int(rows.start), int(cols.stop), int(rows.stop), name))
    return sorted(boxes, key=reading_order)


def reading_order(box: Box) -> tuple[str, int, int]:
    """Boxes sort by label, then top to bottom, then left to right."""
    return box.label, box.y0, box.x0


def label_colour(label: str) -> tuple[int, int, int]:
    """The palette colour of a label: fixed by the label's text, so it is the same on every image and run."""
    return PALETTE[zlib.crc32(label.encode("utf-8")) % len(PALETTE)]


def draw_boxes(image: Image.Image, boxes: list[Box], width: int | None = None) -> Image.Image:
    """An RGB copy of `image` with each box outlined in its label's colour.

    The outline lies on the box's outermost `width` pixels (inside the box, so it is never clipped at the
    image border); without `width` it scales with the image: 1 pixel per 256 pixels of the shorter side.
    """
    drawn = image.convert("RGB")
    if width is None:
        width = max(1, round(min(drawn.size) / 256))
    draw = ImageDraw.Draw(drawn)
    for box in boxes:
        draw.rectangle((box.x0, box.y0, box.x1 - 1, box.y1 - 1), outline=label_colour(box.label), width=width)
    return drawn


def to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear window [low, high] -> 0..255."""
    scaled = np.clip((values.astype(np.float64) - low) / max(float(high) - float(low), 1e-6), 0.0, 1.0)
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def percentile_window(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, DISPLAY_PERCENTILES)
    return float(low), float(high)


# --- DICOM Segmentation -------------------------------------------------------------------------


def dicom_display_image(ds: Any) -> Image.Image:
    """8-bit display image of a single-frame DICOM image: CT uses its stored window, else percentiles."""
    from pydicom.pixels import apply_modality_lut

    pixels = ds.pixel_array
    if int(ds.get("SamplesPerPixel", 1) or 1) == 3:
        return Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB")
    values = apply_modality_lut(pixels, ds)
    if normalise_modality(ds.get("Modality")) == "ct" and "WindowCenter" in ds and "WindowWidth" in ds:
        centre, width = first_value(ds.WindowCenter), first_value(ds.WindowWidth)
        low, high = centre - width / 2, centre + width / 2
    else:
        low, high = percentile_window(values)
    display = to_uint8(values, low, high)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        display = 255 - display
    return Image.fromarray(display, "L")


def first_value(value: Any) -> float:
    """The first of a multi-valued DICOM number (WindowCenter may hold several windows)."""
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, MultiValue) else value)


def dicom_body_part(ds: Any) -> str | None:
    return str(ds.get("BodyPartExamined") or "").strip().lower() or None


def segment_labels(seg: Any) -> dict[int, str]:
    """Segment number -> SegmentLabel from the SegmentSequence."""
    return {int(item.SegmentNumber): str(item.get("SegmentLabel") or item.SegmentNumber)
            for item in seg.SegmentSequence}


def frame_source_uid(frame_group: Any) -> str | None:
    """The SOP Instance UID of the image a frame was derived from (None when the frame does not say)."""
    for derivation in frame_group.get("DerivationImageSequence", []):
        for source in derivation.get("SourceImageSequence", []):
            if "ReferencedSOPInstanceUID" in source:
                return str(source.ReferencedSOPInstanceUID)
    return None


def index_images_by_uid(folder: Path) -> dict[str, Path]:
    """SOP Instance UID -> file for every DICOM file under `folder` (non-DICOM files are skipped)."""
    import pydicom

    index: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
        try:
            uid = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID
        except Exception:  # not DICOM, or no UID: cannot be a source image
            continue
        index.setdefault(str(uid), path)
    return index


def seg_frame_masks(seg: Any) -> np.ndarray:
    """Boolean masks, one per frame; FRACTIONAL segmentations are thresholded at half their maximum."""
    frames = np.asarray(seg.pixel_array).reshape(-1, int(seg.Rows), int(seg.Columns))
    if str(seg.get("SegmentationType", "BINARY")) == "FRACTIONAL":
        return frames >= int(seg.get("MaximumFractionalValue", 255)) / 2
    return frames > 0


def frames_by_source(seg: Any, masks: np.ndarray) -> dict[str | None, list[int]]:
    """Source SOP Instance UID -> its non-empty frames, in order of first frame (None: frame names no source)."""
    grouped: dict[str | None, list[int]] = {}
    for frame, group in enumerate(seg.PerFrameFunctionalGroupsSequence):
        if masks[frame].any():
            grouped.setdefault(frame_source_uid(group), []).append(frame)
    return grouped


def read_dicom_seg(path: Path, repo: Path, options: dict) -> Iterator[RoiSlice | RoiRejection]:
    """One RoiSlice per source image of a DICOM Segmentation, with the boxes of all its segments.

    Frames are matched to their source image by the per-frame reference (PerFrameFunctionalGroupsSequence ->
    DerivationImageSequence -> SourceImageSequence -> ReferencedSOPInstanceUID), looked up among the DICOM
    files of `options["image_dir"]`. There is deliberately no fallback to the order of
    ReferencedSeriesSequence: nothing guarantees that order matches the frames, so frames without their own
    reference are rejected ("source_reference_missing") rather than paired with a guessed image.
    Frames whose mask is empty are skipped (they are not ROI candidates). Frame numbers are 0-based.
    """
    import pydicom

    file, stem = rel(path, repo), path.name.removesuffix(".dcm")
    try:
        seg = pydicom.dcmread(path)
        if str(seg.SOPClassUID) != SEGMENTATION_STORAGE:
            raise ValueError(f"SOP Class {seg.SOPClassUID} is not Segmentation Storage")
        masks, names = seg_frame_masks(seg), segment_labels(seg)
        groups = seg.PerFrameFunctionalGroupsSequence
        frame_label = [names[int(g.SegmentIdentificationSequence[0].ReferencedSegmentNumber)] for g in groups]
        if len(groups) != len(masks):
            raise ValueError(f"{len(groups)} per-frame groups for {len(masks)} frames")
        sources = frames_by_source(seg, masks)
    except Exception as exc:  # pydicom raises many types for damaged or unexpected files
        yield RoiRejection(stem, file, "unreadable", f"{type(exc).__name__}: {exc}", file)
        return

    images = index_images_by_uid(repo / options["image_dir"])
    min_pixels, seg_size = int(options.get("min_pixels", 1)), (int(seg.Columns), int(seg.Rows))
    for uid, frames in sources.items():
        frame_key = "+".join(str(frame) for frame in frames)
        slice_id, ref = f"{stem}:frame={frame_key}", f"{file}#frame={frame_key}"
        if uid is None:
            yield RoiRejection(slice_id, ref, "source_reference_missing", "frame names no source image", file)
            continue
        if uid not in images:
            detail = f"referenced SOP Instance UID {uid} not in {options['image_dir']}"
            yield RoiRejection(slice_id, ref, "source_image_missing", detail, file)
            continue
        try:
            source = pydicom.dcmread(images[uid])
            if int(source.get("NumberOfFrames", 1) or 1) > 1:
                raise ValueError("multi-frame source images are not supported")
            image = dicom_display_image(source)
        except Exception as exc:
            detail = f"{rel(images[uid], repo)}: {type(exc).__name__}: {exc}"
            yield RoiRejection(slice_id, ref, "unreadable", detail, file)
            continue
        if image.size != seg_size:
            detail = f"source image is {image.size}, segmentation is {seg_size}"
            yield RoiRejection(slice_id, ref, "shape_mismatch", detail, file)
            continue
        boxes = [box for frame in frames for box in minimal_boxes(masks[frame], {1: frame_label[frame]}, min_pixels)]
        if boxes:
            yield RoiSlice(
                id=slice_id, ref=ref, image=image,
                boxes=sorted(boxes, key=reading_order), source_file=file,
                modality=normalise_modality(source.get("Modality")) or configured_modality(options),
                body_part=dicom_body_part(source) or dicom_body_part(seg) or options.get("body_part"),
            )


# --- NIfTI volumes ------------------------------------------------------------------------------


def load_volume(path: Path) -> tuple[np.ndarray, Any]:
    """A 3-D array (scaling applied; trailing singleton axes such as time=1 dropped) and the NIfTI header."""
    import nibabel as nib

    image = nib.load(path)
    data = np.asanyarray(image.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {data.shape}")
    return data, image.header


def volume_window(header: Any, volume: np.ndarray) -> tuple[float, float]:
    """The header's display range (cal_min/cal_max) when set, else the 1st..99th percentile of the volume.

    One window for the whole volume keeps the slices of a volume comparable with each other.
    """
    low, high = float(header.get("cal_min", 0) or 0), float(header.get("cal_max", 0) or 0)
    return (low, high) if high > low else percentile_window(volume)


def read_nifti(path: Path, repo: Path, options: dict) -> Iterator[RoiSlice | RoiRejection]:
    """One RoiSlice per z (third axis) of a NIfTI volume whose label volume (`options["mask"]`) is non-empty.

    Slices with an empty mask are skipped: they are not ROI candidates. Pixel (x, y) of slice z is voxel
    (x, y, z) in array order (no reorientation), so boxes map straight back to voxel indices.
    """
    file, stem = rel(path, repo), path.name.removesuffix(".gz").removesuffix(".nii")
    mask_path = repo / options["mask"]
    try:
        volume, header = load_volume(path)
        window = volume_window(header, volume)
    except Exception as exc:  # nibabel raises many types for damaged files
        yield RoiRejection(stem, file, "unreadable", f"{file}: {type(exc).__name__}: {exc}", file)
        return
    try:
        mask = np.rint(load_volume(mask_path)[0]).astype(np.int64)
    except Exception as exc:
        yield RoiRejection(stem, file, "unreadable", f"mask {rel(mask_path, repo)}: {type(exc).__name__}: {exc}", file)
        return
    if mask.shape != volume.shape:
        yield RoiRejection(stem, file, "shape_mismatch", f"image {volume.shape} vs mask {mask.shape}", file)
        return
    labels = {int(value): str(name) for value, name in (options.get("labels") or {}).items()}
    min_pixels = int(options.get("min_pixels", 1))
    modality = configured_modality(options)
    for z in range(volume.shape[2]):
        boxes = minimal_boxes(mask[:, :, z].T, labels, min_pixels)
        if not boxes:
            continue
        image = Image.fromarray(np.ascontiguousarray(to_uint8(volume[:, :, z].T, *window)), "L")
        yield RoiSlice(id=f"{stem}:z={z}", ref=f"{file}#z={z}", image=image, boxes=boxes, modality=modality,
                       body_part=options.get("body_part"), source_file=file)


# --- dispatch -----------------------------------------------------------------------------------


def configured_modality(options: dict) -> str | None:
    """The `modality` option as a schema modality name (DICOM codes such as "MR" are accepted)."""
    value = options.get("modality")
    if value is None or value in MODALITIES:
        return value
    name = normalise_modality(value)
    if name is None:
        raise ValueError(f"unknown modality {value!r}; expected one of {MODALITIES} or a DICOM modality code")
    return name


Reader = Callable[[Path, Path, dict], Iterator[RoiSlice | RoiRejection]]
READERS: dict[str, tuple[Reader, set[str], set[str]]] = {  # kind -> (reader, required options, optional options)
    "dicom_seg": (read_dicom_seg, {"image_dir"}, {"min_pixels", "modality", "body_part"}),
    "nifti": (read_nifti, {"mask"}, {"labels", "min_pixels", "modality", "body_part"}),
}


def read_roi_source(kind: str, path: Path, repo: Path, options: dict) -> Iterator[RoiSlice | RoiRejection]:
    """Slices with regions of interest from one configured source, in frame / z order.

    kind "dicom_seg": `path` is a DICOM Segmentation; options: image_dir (repo-relative folder of the source
    images), min_pixels, modality/body_part (fallbacks when the source image does not say).
    kind "nifti": `path` is an image volume; options: mask (label volume of the same shape), labels
    (value -> name), min_pixels, modality, body_part. See `read_dicom_seg` / `read_nifti` for details.
    Unreadable files yield one RoiRejection("unreadable") instead of raising.
    """
    if kind not in READERS:
        raise ValueError(f"unknown ROI source kind {kind!r}; expected one of {sorted(READERS)}")
    reader, required, optional = READERS[kind]
    missing, unknown = required - set(options), set(options) - required - optional
    if missing or unknown:
        raise ValueError(f"{kind} options: missing {sorted(missing)}, unknown {sorted(unknown)}")
    configured_modality(options)  # a bad modality is a configuration error: raise before reading anything
    path = Path(path) if Path(path).is_absolute() else repo / path
    return reader(path, repo, options)
