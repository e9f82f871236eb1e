"""Every kind of bad input ends in data/rejected with its reason; the run completes; nothing is lost."""

import io
import json
import struct
import zlib
from collections import Counter
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
from PIL import Image

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator, write_outputs


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


@pytest.fixture
def dicom_without_pixels(tmp_path):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = tmp_path / "dicoms"
    folder.mkdir()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.Modality, ds.BodyPartExamined, ds.SOPInstanceUID = "CT", "CHEST", meta.MediaStorageSOPInstanceUID
    ds.save_as(folder / "no_pixels.dcm", enforce_file_format=True)
    (folder / "garbage.dcm").write_bytes(b"not a dicom at all")
    return folder


def test_each_bad_input_is_rejected_with_its_reason(curate_cfg, bad_folder, dicom_without_pixels, repo):
    cfg = replace(curate_cfg, benchmarks=[], source_priority=[], sources=[
        SourceConfig(name="bad", format="image_folder", path=str(bad_folder), group="medical_multimodal", licence="test"),
        SourceConfig(name="dcm", format="dicom_dir", path=str(dicom_without_pixels), group="medical_caption", licence="test"),
    ])
    curator = Curator(cfg, repo)
    result = curator.run()  # completes: no exception from any bad record
    write_outputs(result, cfg, repo, curator.store)
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
    table = pq.read_table(f"{cfg.rejected_dir}/rejected.parquet").to_pylist()
    assert len(table) == 12 and all(row["reason"] and row["provenance"]["file"] for row in table)
