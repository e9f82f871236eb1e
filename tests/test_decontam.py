"""Decontamination against VQA-RAD's test split, on the real data (whose train split reuses test images)."""

from collections import Counter
from dataclasses import replace

import pytest

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator


@pytest.fixture
def vqa_rad_only(curate_cfg):
    src = next(s for s in curate_cfg.sources if s.name == "vqa_rad")
    bench = next(b for b in curate_cfg.benchmarks if b.name == "vqa_rad")
    return replace(curate_cfg, sources=[src], benchmarks=[bench], source_priority=["vqa_rad"])


def _test_items(result):
    return {s.id for g in result.kept.values() for s in g if s.split == "test"}


def test_drop_removes_every_training_question_on_a_test_image_or_with_a_test_question(vqa_rad_only, repo):
    result = Curator(vqa_rad_only, repo).run()
    kept = [s for g in result.kept.values() for s in g if s.task == "vqa"]
    test = [s for s in kept if s.split == "test"]
    train = [s for s in kept if s.split == "train"]
    assert len(test) == 451, "the benchmark's own test split is kept intact (as split=test)"
    test_images = {s.meta["phashes"][0] for s in test}
    test_questions = {s.meta["question"].strip().lower() for s in test}
    assert not [s for s in train if s.meta["phashes"][0] in test_images]
    assert not [s for s in train if s.meta["question"].strip().lower() in test_questions]
    questions_rejected = [r for r in result.rejected if ":caption:" not in r.id]
    dropped = Counter(r.reason for r in questions_rejected)["benchmark_overlap"]
    assert dropped > 1000 and len(train) + len(questions_rejected) == 1797
    assert result.overlaps[("vqa_rad", "image")] >= 1000 and result.overlaps[("vqa_rad", "text")] >= 79


def test_metadata_captions_of_test_images_are_held_out(vqa_rad_only, repo):
    result = Curator(vqa_rad_only, repo).run()
    kept = [s for g in result.kept.values() for s in g]
    test_images = {s.meta["phashes"][0] for s in kept if s.task == "vqa" and s.split == "test"}
    captions = [s for s in kept if s.task == "caption"]
    assert {s.group for s in captions} == {"medical_caption"}
    assert captions and all((s.meta["phashes"][0] in test_images) == (s.split == "test") for s in captions)
    assert all(s.conversations[1]["content"].startswith("MedPix teaching-case image: ") for s in captions)


def test_report_mode_keeps_and_flags_the_same_samples(vqa_rad_only, repo):
    dropped = Curator(vqa_rad_only, repo).run()
    reported = Curator(replace(vqa_rad_only, decontaminate="report"), repo).run()
    dropped_ids = {r.id for r in dropped.rejected if r.reason == "benchmark_overlap"}
    flagged = {s.id for g in reported.kept.values() for s in g if s.meta.get("benchmark_overlap")}
    # kept and flagged, unless a later filter (dedup) rejected them for another reason
    later = {r.id: r.reason for r in reported.rejected}
    assert flagged <= dropped_ids and len(flagged) > 1000
    assert {later[i] for i in dropped_ids - flagged} <= {"duplicate_image", "near_duplicate_text"}
    assert "benchmark_overlap" not in later.values()


def test_text_benchmarks_catch_a_copied_exam_question(curate_cfg, tmp_path, repo):
    import json

    medqa = next(b for b in curate_cfg.benchmarks if b.name == "medqa")
    copied = json.loads((repo / medqa.path).read_text().splitlines()[5])
    (tmp_path / "train.jsonl").write_text(json.dumps({"id": "leak", "question": copied["question"] + " "}) + "\n"
                                          + json.dumps({"id": "fine", "question": "What does the liver do?"}) + "\n")
    src = SourceConfig(name="mine", format="mcq_jsonl", path=str(tmp_path / "train.jsonl"), group="medical_text", licence="t")
    result = Curator(replace(curate_cfg, sources=[src], benchmarks=[medqa], source_priority=[]), repo).run()
    assert [(r.id, r.reason) for r in result.rejected] == [("mine:leak", "benchmark_overlap")]


def test_the_templated_label_benchmark_asks_only_about_images_never_trained_on(vqa_rad_only, repo):
    import lingshu.eval.loaders  # noqa: F401
    from lingshu.data.images import inspect_image
    from lingshu.eval.benchmark import discover

    result = Curator(vqa_rad_only, repo).run()
    trained = {h for g in result.kept.values() for s in g if s.split == "train" for h in s.meta["phashes"]}
    items = discover()["vqa_rad_labels"].items(repo)
    images = {item.images[0] for item in items}
    assert len(images) == 203 and trained
    cfg = vqa_rad_only
    hashes = {}
    for path in images:  # hashed as curation hashes them, in the same hex form as a sample's meta
        info, _ = inspect_image(path.read_bytes(), cfg.min_image_side, cfg.max_image_pixels, cfg.jpeg_draft)
        hashes[path] = f"{info.phash:016x}"
    held_out = {h for g in result.kept.values() for s in g if s.split == "test" for h in s.meta["phashes"]}
    assert set(hashes.values()) <= held_out  # these are the test split's images
    assert not {path for path, h in hashes.items() if h in trained}, "a templated question shows a training image"
