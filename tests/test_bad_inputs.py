"""Every kind of bad input ends in data/rejected with its reason; the run completes; nothing is lost."""

import io
import json
import re
import struct
import zlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator
from lingshu.data.schema import read_table, table_files


def _png(size=(96, 80), color=(120, 30, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(size=(96, 96)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def _bomb_png(width=100_000, height=100_000) -> bytes:
    """A valid small PNG whose header declares a huge size (a decompression bomb)."""
    data = bytearray(_png((8, 8)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.fixture
def bad_folder(tmp_path):
    folder = tmp_path / "bad_source"
    folder.mkdir()
    jpeg = _jpeg()
    files = {
        "good.png": _png(),
        "corrupt.jpg": jpeg[:2] + b"\x00" * 50 + jpeg[52:],
        "truncated.png": _noisy_png()[:600],
        "empty.png": b"",
        "tiny.png": _png((1, 1)),
        "bomb.png": _bomb_png(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    lines = [json.dumps({"file_name": name, "question": f"What is shown in {name}?", "answer": "an image"})
             for name in files]
    lines.append(json.dumps({"file_name": "good.png"}))  # missing caption / question+answer
    lines.append(json.dumps({"question": "no image named", "answer": "x"}))  # missing file_name
    lines.append(json.dumps({"file_name": "../../etc/passwd", "caption": "an escape attempt " * 3}))
    lines.append(json.dumps({"file_name": "nowhere.png", "caption": "a missing image file " * 3}))
    raw = "\n".join(lines).encode() + b"\n" + b'{"file_name": "good.png", "caption": "caf\xe9 \xff"}\n'
    (folder / "metadata.jsonl").write_bytes(raw)
    return folder


def _noisy_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).save(buffer, format="PNG")
    return buffer.getvalue()


def _dicom_header():
    """A CT dataset with its file meta (Explicit VR Little Endian) and no pixels yet."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.Modality, ds.BodyPartExamined, ds.SOPInstanceUID = "CT", "CHEST", meta.MediaStorageSOPInstanceUID
    return ds


@pytest.fixture
def dicom_without_pixels(tmp_path):
    folder = tmp_path / "dicoms"
    folder.mkdir()
    _dicom_header().save_as(folder / "no_pixels.dcm", enforce_file_format=True)
    (folder / "garbage.dcm").write_bytes(b"not a dicom at all")
    return folder


def test_each_bad_input_is_rejected_with_its_reason(curate_cfg, bad_folder, dicom_without_pixels, repo):
    cfg = replace(curate_cfg, benchmarks=[], source_priority=[], sources=[
        SourceConfig(name="bad", format="image_folder", path=str(bad_folder), group="medical_multimodal", licence="test"),
        SourceConfig(name="dcm", format="dicom_dir", path=str(dicom_without_pixels), group="medical_caption", licence="test"),
    ])
    curator = Curator(cfg, repo)
    result = curator.run()  # completes: no exception from any bad record
    reasons = {r.id: r.reason for r in result.rejected}
    assert reasons == {
        "bad:corrupt": "unreadable_image",
        "bad:truncated": "unreadable_image",
        "bad:empty": "empty_file",
        "bad:tiny": "image_too_small",
        "bad:bomb": "decompression_bomb",
        "bad:good": "missing_field",  # the line naming good.png without any text
        "bad:line8": "missing_field",
        "bad:passwd": "path_escape",
        "bad:nowhere": "missing_image",
        "bad:line11": "invalid_utf8",
        "dcm:no_pixels": "dicom_no_pixel_data",
        "dcm:garbage": "unreadable_dicom",
    }
    kept = [s.id for group in result.kept.values() for s in group]
    assert kept == ["bad:good"]
    assert result.inputs == Counter({"bad": 11, "dcm": 2})
    table = read_table(sorted(Path(cfg.rejected_dir).glob("part-*.parquet"))).to_pylist()
    assert len(table) == 12 and all(row["reason"] and row["provenance"]["file"] for row in table)
    corrupt = next(r for r in result.rejected if r.id == "bad:corrupt")
    assert "cannot identify image file" in corrupt.detail and " at 0x" not in corrupt.detail  # the same every run


def _dicom(path, rows=80, bits=16, photometric="MONOCHROME2", **tags):
    """A small DICOM file written from scratch, random pixels (distinct per path: no duplicate images)."""
    import numpy as np

    ds = _dicom_header()
    ds.Rows = ds.Columns = rows
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, photometric, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    rng = np.random.default_rng(zlib.crc32(str(path).encode()))
    if bits == 1:
        ds.PixelData = np.packbits(rng.integers(0, 2, rows * rows).astype(np.uint8), bitorder="little").tobytes()
    else:
        dtype = np.uint8 if bits == 8 else np.uint16
        ds.PixelData = rng.integers(0, 200 if bits == 8 else 4000, (rows, rows), dtype=dtype).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_dicoms_that_once_crashed_or_went_unseen_are_kept_or_rejected(curate_cfg, repo, tmp_path):
    folder = tmp_path / "dicoms"
    _dicom(folder / "plain.dcm")
    _dicom(folder / "palette_no_lut.dcm", bits=8, photometric="PALETTE COLOR")  # crashed: no lookup table
    _dicom(folder / "window_width_0.dcm", WindowCenter=40, WindowWidth=0)  # crashed: invalid window
    _dicom(folder / "one_bit.dcm", bits=1)
    _dicom(folder / "IM0001")  # DICOM needs no suffix: it was never read, nor counted
    _dicom(folder / "series_a" / "IM1.dcm")  # same file name in two folders: two records, two ids
    _dicom(folder / "series_b" / "IM1.dcm")
    (folder / "notes.txt").write_text("acquisition notes")
    cfg = replace(curate_cfg, benchmarks=[], source_priority=[], caption_min_tokens=1, sources=[
        SourceConfig(name="dcm", format="dicom_dir", path=str(folder), group="medical_caption", licence="test")])
    result = Curator(cfg, repo).run()
    kept = sorted(s.id for group in result.kept.values() for s in group)
    rejected = {r.id: (r.reason, r.detail) for r in result.rejected}
    assert kept == ["dcm:IM0001", "dcm:one_bit", "dcm:plain", "dcm:series_a/IM1", "dcm:series_b/IM1",
                    "dcm:window_width_0"]
    assert rejected["dcm:palette_no_lut"][0] == "unreadable_dicom" and "lookup table" in rejected["dcm:palette_no_lut"][1]
    assert rejected["dcm:notes"][0] == "not_dicom"
    assert result.inputs == Counter({"dcm": 8})


def test_text_records_of_the_wrong_type_size_or_id_are_rejected_with_their_reason(curate_cfg, repo, tmp_path):
    lines = [
        {"realidx": 0, "question": "Which nerve is affected here?", "answer_idx": "A", "options": {"A": "x", "B": "y"}},
        {"realidx": 1, "question": "Which vessel is affected here?", "answer_idx": "[A", "options": {"A": "x", "B": "y"}},
        {"realidx": 2, "question": 42, "answer_idx": "A"},
        {"realidx": 3, "question": {"text": "an object"}, "answer_idx": "A"},
        {"realidx": 4, "question": "Which bone is broken in the wrist?", "answer_idx": "['B']", "options": {"A": "x", "B": "y"}},
        {"realidx": 4, "question": "A different question with a repeated id?", "answer_idx": "A", "options": {"A": "x"}},
        {"realidx": 5, "question": "long " * 50_000, "answer_idx": "A", "options": {"A": "x"}},
    ]
    path = tmp_path / "mcq.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cfg = replace(curate_cfg, benchmarks=[], source_priority=[], deidentify=False, sources=[
        SourceConfig(name="mcq", format="mcq_jsonl", path=str(path), group="medical_text", licence="test")])
    result = Curator(cfg, repo).run()
    assert sorted(s.id for group in result.kept.values() for s in group) == ["mcq:0", "mcq:4"]  # id 0 is an id
    reasons = {(r.id, r.reason) for r in result.rejected}
    assert reasons == {("mcq:1", "invalid_field"), ("mcq:2", "invalid_field"), ("mcq:3", "invalid_field"),
                       ("mcq:4", "duplicate_id"), ("mcq:5", "text_too_long")}
    assert result.inputs == Counter({"mcq": 7})


def test_a_misspelt_loader_option_is_named_before_anything_runs(curate_cfg, repo):
    src = SourceConfig(name="vqa", format="vqa_rad_json", path="data/sources/vqa_rad/vqa_rad.json",
                       group="medical_multimodal", licence="test", options={"image_dri": "images"})
    with pytest.raises(ValueError, match=r"'vqa'.*unknown option\(s\) \['image_dri'\]; known: captions, image_dir"):
        Curator(replace(curate_cfg, sources=[src], benchmarks=[], source_priority=[]), repo).run()


@pytest.mark.parametrize("testset, message", [
    (None, r"testset\.json does not exist"),
    ('[{"image_name": "a.jpg", "modality": "CT"', r"testset\.json is not JSON"),
    (b'["\xff"]', r"testset\.json is not JSON"),
    ('{"image_name": "a.jpg"}', r"testset\.json holds a dict, not a list"),
    ('[{"image_name": "a.jpg", "modality": "CT"}, {"modality": "MRI"}]', r"testset\.json entry 1 has no image_name"),
])
def test_a_broken_modality_label_file_is_named_before_anything_runs(curate_cfg, repo, tmp_path, testset, message):
    folder = tmp_path / "mevf"
    folder.mkdir()
    (folder / "trainset.json").write_text('[{"image_name": "synpic1.jpg", "modality": "CT"}]')
    if testset is not None:
        (folder / "testset.json").write_bytes(testset if isinstance(testset, bytes) else testset.encode())
    src = SourceConfig(name="vqa", format="vqa_rad_json", path="data/sources/vqa_rad/vqa_rad.json",
                       group="medical_multimodal", licence="test", options={"modality_from": str(folder)})
    with pytest.raises(ValueError, match=r"source 'vqa' \(format vqa_rad_json\): options\.modality_from: .*" + message):
        Curator(replace(curate_cfg, sources=[src], benchmarks=[], source_priority=[]), repo).run()


def test_an_empty_source_keeps_its_row_and_fails_the_conservation_check(curate_cfg, repo, tmp_path):
    from lingshu.checks.run import run_checks
    from lingshu.config import load_section
    from lingshu.data.curate_report import curate_and_report

    folder = tmp_path / "empty_source"
    folder.mkdir()
    (folder / "metadata.jsonl").write_text("")
    (tmp_path / "one.txt").write_text("1\tA radiograph of the chest with clear lungs and no effusion.\n")
    cfg = replace(curate_cfg, benchmarks=[], source_priority=[], sources=[
        SourceConfig(name="empty", format="image_folder", path=str(folder), group="medical_caption", licence="test"),
        SourceConfig(name="one", format="roco_txt", path=str(tmp_path / "one.txt"), group="medical_text", licence="t")])
    metrics, _ = curate_and_report(cfg, repo)
    assert metrics["per_source"]["empty"] == {**metrics["per_source"]["empty"], "inputs": 0, "kept": 0, "rejected": 0}
    validate = replace(load_section("validate", repo / "params.yaml"), results_dir=str(tmp_path / "validation"))
    outcome = next(o for o in run_checks(cfg, validate, repo) if o.suite == "conservation")
    assert not outcome.success and "empty" in str(outcome.failed)


def test_curated_folders_are_replaced_as_a_whole(curate_cfg, repo, tmp_path):
    """`python stages/curate.py` outside DVC once left an earlier run's group tables beside the new ones."""
    (tmp_path / "caps.txt").write_text("1\tA radiograph of the chest with clear lungs and no effusion.\n")
    cfg = replace(curate_cfg, benchmarks=[], source_priority=[], sources=[
        SourceConfig(name="caps", format="roco_txt", path=str(tmp_path / "caps.txt"), group="medical_text", licence="t")])
    for stale in ("medical_multimodal.parquet", "medical_caption/part-000-00000.parquet"):  # either layout
        (Path(cfg.output_dir) / stale).parent.mkdir(parents=True, exist_ok=True)
        (Path(cfg.output_dir) / stale).write_bytes(b"an earlier run's table")
    result = Curator(cfg, repo).run()
    assert sorted(p.name for p in Path(cfg.output_dir).iterdir()) == ["medical_text"]  # the stale table is gone
    assert list(table_files(cfg.output_dir)) == ["medical_text"]
    assert [len(samples) for samples in result.kept.values()] == [1]
    rejected = sorted(p.name for p in Path(cfg.rejected_dir).iterdir())
    assert rejected and all(re.fullmatch(r"part-\d{3}-\d{5}\.parquet", name) for name in rejected)
