"""Loaders read the native formats into the one schema."""

import io
from collections import Counter

import numpy as np
from PIL import Image

from lingshu.config import SourceConfig
from lingshu.data.schema import Rejected, Sample
from lingshu.data.sources import load_source
from lingshu.data.sources.dicom import dicom_to_png


def _load(repo, **kwargs):
    return list(load_source(SourceConfig(**kwargs), repo))


def _comparable(sample: Sample) -> dict:
    row = sample.to_row()
    row.pop("provenance")
    row["images"] = [image.ref for image in sample.images]
    return row


def test_vqa_rad_json_and_xml_give_the_same_records(repo):
    common = dict(name="vqa_rad", group="medical_multimodal", licence="CC0-1.0", options={"image_dir": "images"})
    from_json = _load(repo, format="vqa_rad_json", path="data/sources/vqa_rad/vqa_rad.json", **common)
    from_xml = _load(repo, format="vqa_rad_xml", path="data/sources/vqa_rad/vqa_rad.xml", **common)
    assert len(from_json) == len(from_xml) == 2248
    assert all(isinstance(s, Sample) for s in from_json + from_xml)
    by_id = {s.id: _comparable(s) for s in from_xml}
    assert {s.id: _comparable(s) for s in from_json} == by_id


def test_vqa_rad_test_split_is_the_451_official_questions(repo):
    samples = _load(repo, name="vqa_rad", format="vqa_rad_json", path="data/sources/vqa_rad/vqa_rad.json",
                    group="medical_multimodal", options={"modality_from": "data/sources/vqa_rad/mevf_split"})
    assert Counter(s.split for s in samples) == {"train": 1797, "test": 451}
    assert all(s.meta["phrase_type"].startswith("test") == (s.split == "test") for s in samples)
    assert Counter(s.modality for s in samples).keys() <= {"ct", "mri", "x-ray"}


def test_pubmedqa_keeps_its_500_test_questions_apart(repo):
    samples = _load(repo, name="pubmedqa", format="pubmedqa_json", path="data/sources/pubmedqa/ori_pqal.json",
                    group="medical_text", options={"test_ids": "data/sources/pubmedqa/test_ground_truth.json"})
    assert Counter(s.split for s in samples) == {"train": 500, "test": 500}
    assert {s.meta["answer"] for s in samples} == {"yes", "no", "maybe"}


def test_roco_uses_per_item_licences(repo):
    samples = _load(repo, name="roco", format="roco_txt", path="data/sources/roco/test_radiology_captions.txt",
                    group="medical_text", licence="fallback",
                    options={"licences": "data/sources/roco/test_radiology_licences.txt"})
    assert len(samples) == 8179
    licences = Counter(s.licence for s in samples if isinstance(s, Sample))
    assert licences["CC BY"] > 1000 and "fallback" not in licences


def test_mcq_jsonl_parses_literal_options(repo):
    samples = _load(repo, name="medqa", format="mcq_jsonl", path="data/benchmarks/medqa/test_4options.jsonl",
                    group="medical_text", split="test")
    assert len(samples) == 1273 and all(isinstance(s, Sample) for s in samples)
    first = samples[0]
    assert set(first.meta["options"]) == {"A", "B", "C", "D"} and first.meta["answer"] in "ABCD"
    assert first.conversations[-1]["content"].startswith(first.meta["answer"] + ". ")


def test_dicom_becomes_windowed_png_with_metadata(repo):
    samples = _load(repo, name="dicom", format="dicom_dir", path="data/sources/dicom", group="medical_caption")
    by_file = {s.provenance_file.rsplit("/", 1)[-1]: s for s in samples}
    chest = by_file["RG1_J2KI.dcm"]
    assert (chest.modality, chest.body_part) == ("x-ray", "chest")
    image = Image.open(io.BytesIO(chest.images[0].read()))
    assert image.format == "PNG" and image.size == (1841, 1955)
    pixels = np.asarray(image)
    assert pixels.min() == 0 and pixels.max() == 255, "windowing spans the full 8-bit range"
    # MONOCHROME1: the air around the body must come out dark, as on a radiograph viewer.
    assert pixels[:50, :50].mean() < pixels[900:1100, 800:1000].mean()
    assert {s.modality for s in samples} >= {"ct", "mri", "ultrasound", "x-ray"}


def test_multiframe_dicom_takes_the_middle_frame(repo):
    import pydicom

    path = repo / "data/sources/dicom/emri_small.dcm"
    ds = pydicom.dcmread(path)
    png = np.asarray(Image.open(io.BytesIO(dicom_to_png(path))))
    assert png.shape == ds.pixel_array.shape[1:]
    middle = ds.pixel_array[ds.NumberOfFrames // 2].astype(float)
    assert np.corrcoef(png.ravel(), middle.ravel())[0, 1] > 0.95


def test_generators_are_seeded_and_labelled_generated(repo):
    spec = dict(name="charts", format="generated_charts", path="data/sources", group="general_multimodal",
                licence="generated (CC0-1.0)")
    first = _load(repo, options={"count": 6, "seed": 1}, **spec)
    again = _load(repo, options={"count": 3, "seed": 1}, **spec)
    assert [s.conversations for s in first[:3]] == [s.conversations for s in again]
    assert first[0].images[0].read() == again[0].images[0].read()
    assert all("generator" in s.provenance_file and "generated" in s.licence for s in first)
    texts = _load(repo, name="text", format="generated_instructions", path="data/sources", group="general_text",
                  licence="generated", options={"count": 50, "seed": 0})
    assert len({s.conversations[0]["content"] for s in texts}) > 40
    assert not any(isinstance(s, Rejected) for s in first + texts)
