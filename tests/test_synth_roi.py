"""Regions of interest: minimal boxes from masks, drawn boxes, and the DICOM-SEG / NIfTI slice readers.

Real data: pydicom-data's liver segmentation shipped in data/sources/segmentations, pydicom's CT_small.dcm
as a stand-in for the liver's (unavailable) CT slices, and nibabel's bundled T1 volume anatomical.nii.
Expected values are computed here with numpy, independently of lingshu.synth.roi.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import pack_bits

from lingshu.synth.roi import (
    PALETTE, Box, RoiRejection, RoiSlice, draw_boxes, label_colour, minimal_boxes, read_roi_source,
)

REPO = Path(__file__).resolve().parents[1]
LIVER_SEG = REPO / "data/sources/segmentations/liver_seg.dcm"
CT_SMALL = REPO / "data/sources/dicom/CT_small.dcm"
ANATOMICAL = Path(nib.__file__).parent / "tests/data/anatomical.nii"


def nonzero_extent(mask: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] of all non-zero pixels, x1/y1 exclusive."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def union(boxes: list[Box]) -> list[int]:
    return [min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes)]


# --- minimal_boxes ------------------------------------------------------------------------------


def test_two_blobs_of_one_label_give_two_tight_boxes():
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[2:5, 3:9] = 1
    mask[10:18, 20:22] = 1
    mask[11, 19] = 1  # irregular edge: the box must still be tight
    boxes = minimal_boxes(mask)
    left, right = np.zeros_like(mask), np.zeros_like(mask)
    left[:, :15], right[:, 15:] = mask[:, :15], mask[:, 15:]
    assert [b.as_list() for b in boxes] == [nonzero_extent(left), nonzero_extent(right)]
    assert {b.label for b in boxes} == {"1"}


def test_boxes_crop_exactly_the_region():
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[4:9, 6:13] = 3
    (box,) = minimal_boxes(mask)
    crop = np.asarray(Image.fromarray(mask).crop(box.as_list()))
    assert crop.shape == (5, 7) and (crop == 3).all()


def test_two_labels_are_named_and_sorted_by_label_then_position():
    mask = np.zeros((10, 10), dtype=np.int32)
    mask[6:8, 0:2] = 2
    mask[0:2, 5:7] = 2
    mask[3:5, 3:5] = 1
    boxes = minimal_boxes(mask, {1: "liver", 2: "kidney"})
    assert [(b.label, b.as_list()) for b in boxes] == [
        ("kidney", [5, 0, 7, 2]), ("kidney", [0, 6, 2, 8]), ("liver", [3, 3, 5, 5])]
    assert [b.label for b in minimal_boxes(mask, {1: "liver"})] == ["2", "2", "liver"]


def test_diagonal_neighbours_are_one_component():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1, 1] = mask[2, 2] = mask[3, 3] = True
    assert [b.as_list() for b in minimal_boxes(mask)] == [[1, 1, 4, 4]]


def test_min_pixels_drops_small_components_and_empty_mask_gives_nothing():
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[0:3, 0:3] = 1  # 9 pixels
    mask[8:10, 8:10] = 1  # 4 pixels
    assert [b.as_list() for b in minimal_boxes(mask, min_pixels=5)] == [[0, 0, 3, 3]]
    assert len(minimal_boxes(mask, min_pixels=4)) == 2
    assert minimal_boxes(np.zeros((5, 5), dtype=np.uint8)) == []


def test_minimal_boxes_rejects_non_2d_and_non_integer_masks():
    with pytest.raises(ValueError, match="2-D"):
        minimal_boxes(np.zeros((2, 3, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="integer"):
        minimal_boxes(np.full((3, 3), 0.5))


# --- draw_boxes ---------------------------------------------------------------------------------


def test_draw_boxes_outlines_in_palette_colour_and_keeps_the_interior():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(64, 80), dtype=np.uint8)
    image = Image.fromarray(pixels, "L")
    box, other = Box(10, 20, 40, 50, "Liver"), Box(50, 5, 70, 15, "Spleen")
    drawn = np.asarray(draw_boxes(image, [box, other], width=2))
    original = np.asarray(image.convert("RGB"))
    assert drawn.shape == (64, 80, 3)
    ring = np.zeros((64, 80), dtype=bool)
    ring[box.y0:box.y1, box.x0:box.x1] = True
    ring[box.y0 + 2:box.y1 - 2, box.x0 + 2:box.x1 - 2] = False
    assert label_colour("Liver") in PALETTE
    assert (drawn[ring] == label_colour("Liver")).all()
    interior = (slice(box.y0 + 2, box.y1 - 2), slice(box.x0 + 2, box.x1 - 2))
    assert (drawn[interior] == original[interior]).all()
    outside = np.ones((64, 80), dtype=bool)
    outside[box.y0:box.y1, box.x0:box.x1] = outside[other.y0:other.y1, other.x0:other.x1] = False
    assert (drawn[outside] == original[outside]).all()
    assert tuple(drawn[other.y0, other.x0]) == label_colour("Spleen")
    assert np.asarray(image).tolist() == pixels.tolist()  # the input is not modified


def test_default_line_width_grows_with_the_image():
    def thickness(side: int) -> int:
        drawn = np.asarray(draw_boxes(Image.new("L", (side, side)), [Box(0, 0, side // 2, side // 2, "a")]))
        return int((drawn[side // 4, : side // 4] == label_colour("a")).all(axis=1).sum())

    assert thickness(128) >= 1 and thickness(1024) > thickness(128)


# --- DICOM Segmentation -------------------------------------------------------------------------


def liver_frame_uids() -> list[str]:
    seg = pydicom.dcmread(LIVER_SEG)
    return [str(g.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
            for g in seg.PerFrameFunctionalGroupsSequence]


def write_ct(path: Path, uid: str, pixels: np.ndarray, **tags) -> None:
    ds = pydicom.dcmread(CT_SMALL)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = pixels.astype(np.int16).tobytes()
    for name, value in tags.items():
        setattr(ds, name, value)
    ds.save_as(path)


def ct_512() -> np.ndarray:
    return np.kron(pydicom.dcmread(CT_SMALL).pixel_array, np.ones((4, 4), dtype=np.int16))


def test_liver_seg_without_its_ct_images_is_rejected_per_frame(tmp_path):
    (tmp_path / "empty").mkdir()
    results = list(read_roi_source("dicom_seg", LIVER_SEG, REPO, {"image_dir": str(tmp_path / "empty")}))
    assert all(isinstance(r, RoiRejection) for r in results)
    assert [r.reason for r in results] == ["source_image_missing"] * 3
    referenced = pydicom.dcmread(LIVER_SEG).ReferencedSeriesSequence[0].ReferencedInstanceSequence
    uids = [str(item.ReferencedSOPInstanceUID) for item in referenced]
    assert sorted(next(uid for uid in uids if uid in r.detail) for r in results) == sorted(uids)
    assert [r.ref for r in results] == [f"data/sources/segmentations/liver_seg.dcm#frame={i}" for i in range(3)]


def test_liver_seg_with_matching_ct_images_gives_one_slice_per_frame(tmp_path):
    image_dir = tmp_path / "ct"
    image_dir.mkdir()
    (image_dir / "README.txt").write_text("not DICOM: must be skipped\n")
    base = ct_512()
    for frame, uid in enumerate(liver_frame_uids()):
        write_ct(image_dir / f"ct_{frame}.dcm", uid, np.roll(base, 50 * frame, axis=1))
    results = list(read_roi_source("dicom_seg", LIVER_SEG, REPO, {"image_dir": str(image_dir)}))
    assert all(isinstance(r, RoiSlice) for r in results) and len(results) == 3
    masks = pydicom.dcmread(LIVER_SEG).pixel_array
    for frame, result in enumerate(results):
        assert result.id == f"liver_seg:frame={frame}"
        assert result.image.size == (512, 512) and result.image.mode == "L"
        assert result.modality == "ct"
        assert {b.label for b in result.boxes} == {"Liver"}
        assert union(result.boxes) == nonzero_extent(masks[frame])
    # The masks carry tiny specks (segmentation-editor noise) inside the liver's box; min_pixels drops them.
    assert len(results[0].boxes) > 1 and len(results[2].boxes) > 1
    options = {"image_dir": str(image_dir), "min_pixels": 10}
    cleaned = list(read_roi_source("dicom_seg", LIVER_SEG, REPO, options))
    assert [[b.as_list() for b in r.boxes] for r in cleaned] == [[nonzero_extent(mask)] for mask in masks]
    # Each frame got its own CT image: the displays differ by exactly the roll that was applied.
    first = np.asarray(results[0].image)
    for frame in (1, 2):
        assert (np.asarray(results[frame].image) == np.roll(first, 50 * frame, axis=1)).all()


def test_frames_of_several_segments_share_their_source_image(tmp_path):
    seg = pydicom.dcmread(LIVER_SEG)
    liver = seg.pixel_array
    tumour = np.zeros_like(liver)
    tumour[0, 200:220, 150:180] = 1
    tumour[2, 10:14, 20:24] = 1  # frame 1 of the tumour stays empty: no tumour box on that image
    segment = deepcopy(seg.SegmentSequence[0])
    segment.SegmentNumber, segment.SegmentLabel = 2, "Tumour"
    seg.SegmentSequence.append(segment)
    for group in [deepcopy(g) for g in seg.PerFrameFunctionalGroupsSequence]:
        group.SegmentIdentificationSequence[0].ReferencedSegmentNumber = 2
        seg.PerFrameFunctionalGroupsSequence.append(group)
    seg.NumberOfFrames = 6
    seg.PixelData = pack_bits(np.concatenate([liver, tumour]))
    seg.save_as(tmp_path / "two_segments.dcm")
    for frame, uid in enumerate(liver_frame_uids()):
        write_ct(tmp_path / f"ct_{frame}.dcm", uid, ct_512())
    options = {"image_dir": str(tmp_path), "min_pixels": 10}  # the liver masks carry 1-2 pixel specks
    results = list(read_roi_source("dicom_seg", tmp_path / "two_segments.dcm", REPO, options))
    assert [r.id for r in results] == ["two_segments:frame=0+3", "two_segments:frame=1", "two_segments:frame=2+5"]
    assert [[b.label for b in r.boxes] for r in results] == [["Liver", "Tumour"], ["Liver"], ["Liver", "Tumour"]]
    assert results[0].boxes[1].as_list() == [150, 200, 180, 220] and results[2].boxes[1].as_list() == [20, 10, 24, 14]


def test_ct_source_uses_its_stored_window(tmp_path):
    uids = liver_frame_uids()
    hu = ct_512().astype(np.int32) - 1024  # CT_small: slope 1, intercept -1024
    write_ct(tmp_path / "ct.dcm", uids[0], ct_512(), WindowCenter=40, WindowWidth=400)
    (result, *_) = read_roi_source("dicom_seg", LIVER_SEG, REPO, {"image_dir": str(tmp_path)})
    display = np.asarray(result.image)
    assert (display[hu <= -160] == 0).all() and (display[hu >= 240] == 255).all()
    assert ((display > 0) & (display < 255))[(hu > -150) & (hu < 230)].all()


def test_ct_images_of_the_wrong_size_are_rejected(tmp_path):
    for frame, uid in enumerate(liver_frame_uids()):
        write_ct(tmp_path / f"ct_{frame}.dcm", uid, pydicom.dcmread(CT_SMALL).pixel_array)
    results = list(read_roi_source("dicom_seg", LIVER_SEG, REPO, {"image_dir": str(tmp_path)}))
    assert [r.reason for r in results] == ["shape_mismatch"] * 3


@pytest.mark.parametrize("content", [b"not a dicom file", None])
def test_unreadable_or_non_seg_dicom_is_one_rejection(tmp_path, content):
    path = tmp_path / "bad.dcm"
    path.write_bytes(content if content is not None else CT_SMALL.read_bytes())
    results = list(read_roi_source("dicom_seg", path, REPO, {"image_dir": str(tmp_path)}))
    assert len(results) == 1 and results[0].reason == "unreadable"


# --- NIfTI volumes ------------------------------------------------------------------------------


def write_mask(path: Path, mask: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(mask, nib.load(ANATOMICAL).affine), path)


def test_nifti_emits_only_masked_z_slices_with_exact_boxes(tmp_path):
    shape = nib.load(ANATOMICAL).shape
    mask = np.zeros(shape, dtype=np.int16)
    mask[2:10, 5:20, 3] = 1
    mask[0:4, 0:3, 10] = 2
    mask[20:30, 30:41, 10] = 1
    mask[32, 40, 24] = 1
    write_mask(tmp_path / "mask.nii.gz", mask)
    options = {"mask": str(tmp_path / "mask.nii.gz"), "labels": {"1": "lesion", "2": "edema"}, "modality": "MR"}
    results = list(read_roi_source("nifti", ANATOMICAL, REPO, options))
    assert all(isinstance(r, RoiSlice) for r in results)
    assert [r.id for r in results] == ["anatomical:z=3", "anatomical:z=10", "anatomical:z=24"]
    assert [[(b.label, b.as_list()) for b in r.boxes] for r in results] == [
        [("lesion", [2, 5, 10, 20])],
        [("edema", [0, 0, 4, 3]), ("lesion", [20, 30, 30, 41])],
        [("lesion", [32, 40, 33, 41])],
    ]
    volume = np.asanyarray(nib.load(ANATOMICAL).dataobj)
    for result, z in zip(results, (3, 10, 24)):
        assert result.modality == "mri" and result.image.mode == "L" and result.image.size == (shape[0], shape[1])
        assert result.ref.endswith(f"anatomical.nii#z={z}")
        # Pixel (x, y) shows voxel (x, y, z): brighter voxels never get darker pixels.
        order = np.argsort(volume[:, :, z].T.ravel(), kind="stable")
        assert (np.diff(np.asarray(result.image).ravel()[order].astype(int)) >= 0).all()
        assert np.asarray(result.image).std() > 10


def test_nifti_shape_mismatch_and_unreadable_files_are_rejections(tmp_path):
    shape = nib.load(ANATOMICAL).shape
    write_mask(tmp_path / "short.nii", np.ones(shape[:2] + (shape[2] - 1,), dtype=np.uint8))
    (mismatch,) = read_roi_source("nifti", ANATOMICAL, REPO, {"mask": str(tmp_path / "short.nii")})
    assert isinstance(mismatch, RoiRejection) and mismatch.reason == "shape_mismatch"

    (tmp_path / "broken.nii").write_bytes(b"\x00" * 100)
    (broken_image,) = read_roi_source("nifti", tmp_path / "broken.nii", REPO, {"mask": str(tmp_path / "short.nii")})
    (missing_mask,) = read_roi_source("nifti", ANATOMICAL, REPO, {"mask": str(tmp_path / "absent.nii")})
    assert broken_image.reason == "unreadable" and "broken.nii" in broken_image.detail
    assert missing_mask.reason == "unreadable" and "absent.nii" in missing_mask.detail


def test_configuration_errors_raise():
    with pytest.raises(ValueError, match="'mesh'"):
        read_roi_source("mesh", ANATOMICAL, REPO, {})
    with pytest.raises(ValueError, match="mask"):
        read_roi_source("nifti", ANATOMICAL, REPO, {})
    with pytest.raises(ValueError, match="colour"):
        read_roi_source("nifti", ANATOMICAL, REPO, {"mask": "m.nii", "colour": "red"})
    with pytest.raises(ValueError, match="modality"):
        read_roi_source("nifti", ANATOMICAL, REPO, {"mask": "m.nii", "modality": "hologram"})
