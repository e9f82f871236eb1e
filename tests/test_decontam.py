"""Decontamination against the evaluation's benchmarks, on the real data: VQA-RAD (whose train split reuses
test images), the text benchmarks, and the index that matches them."""

import json
from collections import Counter
from dataclasses import replace

import pytest

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator
from lingshu.data.decontam import BenchmarkIndex, Fingerprint, BenchmarkItem, select_benchmarks, benchmark_items
from lingshu.data.dedup import MinHasher


@pytest.fixture
def vqa_rad_only(curate_cfg):
    src = next(s for s in curate_cfg.sources if s.name == "vqa_rad")
    return replace(curate_cfg, sources=[src], benchmarks=["vqa_rad"], source_priority=["vqa_rad"])


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


def test_report_mode_keeps_and_flags_the_same_samples(vqa_rad_only, repo, tmp_path):
    dropped = Curator(vqa_rad_only, repo).run()
    # its own output folders: a run replaces its folders as a whole, and the results read their tables back
    reported = Curator(replace(vqa_rad_only, decontaminate="report", output_dir=str(tmp_path / "report/curated"),
                               rejected_dir=str(tmp_path / "report/rejected")), repo).run()
    dropped_ids = {r.id for r in dropped.rejected if r.reason == "benchmark_overlap"}
    flagged = {s.id for g in reported.kept.values() for s in g if s.meta.get("benchmark_overlap")}
    # kept and flagged, unless a later filter (dedup) rejected them for another reason
    later = {r.id: r.reason for r in reported.rejected}
    assert flagged <= dropped_ids and len(flagged) > 1000
    assert {later[i] for i in dropped_ids - flagged} <= {"duplicate_image", "near_duplicate_text"}
    assert "benchmark_overlap" not in later.values()


@pytest.mark.parametrize("name, line", [("medqa", 5), ("medmcqa", 7)])
def test_text_benchmarks_catch_a_copied_exam_question(curate_cfg, tmp_path, repo, name, line):
    """MedMCQA's questions carry their choices inline ("Answer Choices: (A) ..."); a copy with them, as the
    benchmark file has it, is caught (curation's own parser once read none of its 4183 items)."""
    bench = select_benchmarks([name])[0]
    copied = json.loads((repo / bench.path).read_text().splitlines()[line])
    (tmp_path / "train.jsonl").write_text(json.dumps({"id": "leak", "question": copied["question"] + " "}) + "\n"
                                          + json.dumps({"id": "fine", "question": "What does the liver do?"}) + "\n")
    src = SourceConfig(name="mine", format="mcq_jsonl", path=str(tmp_path / "train.jsonl"), group="medical_text", licence="t")
    result = Curator(replace(curate_cfg, sources=[src], benchmarks=[name], source_priority=[]), repo).run()
    assert [(r.id, r.reason) for r in result.rejected] == [("mine:leak", "benchmark_overlap")]
    assert result.overlaps == Counter({(name, "text"): 1})


def test_decontamination_matches_exactly_the_items_and_text_the_evaluation_asks(curate_cfg, repo):
    """One benchmark system: every curate benchmark is read by the evaluation's loader, item for item, and
    matched on the question the prompt asks (the reference report for report generation)."""
    from lingshu.eval.benchmark import discover

    for bench in select_benchmarks(curate_cfg.benchmarks):
        items = {item.id: item for item in discover()[bench.name].listed(repo)}
        matched = list(benchmark_items([bench], repo))
        assert [m.id for m in matched] == list(items) and len(items) > 0, bench.name
        expected = {i: (item.answer if bench.task == "report" else item.question) for i, item in items.items()}
        assert {m.id: m.text for m in matched} == expected, bench.name
    vqa_rad = list(benchmark_items(select_benchmarks(["vqa_rad"]), repo))
    assert len(vqa_rad) == 451 and all(len(item.images) == 1 and not item.images_missing for item in vqa_rad)


def test_a_benchmark_without_its_images_is_matched_on_text_and_counted(curate_cfg, repo):
    """IU-Xray's chest X-rays are not in the repo: its reports are still matched, and the metrics say so."""
    from lingshu.data.curate_report import build_metrics

    src = next(s for s in curate_cfg.sources if s.name == "iu_xray")
    curator = Curator(replace(curate_cfg, sources=[src], benchmarks=["iu_xray"], source_priority=[]), repo)
    result = curator.run()
    decontamination = build_metrics(result)["decontamination"]
    assert decontamination["benchmark_test_items"] == {"iu_xray": 296}
    assert decontamination["test_items_without_images"] == {"iu_xray": 296}
    assert decontamination["overlapping_training_samples"] == {"iu_xray": {"text": 296}}


def test_a_misspelt_benchmark_is_named_before_any_work(curate_cfg, repo, monkeypatch):
    import lingshu.data.curate as curate

    monkeypatch.setattr(curate, "ray_session", lambda *a: pytest.fail("Ray was started before the check"))
    with pytest.raises(ValueError, match=r"curate.benchmarks: unknown benchmark or group 'vqa_rda'"):
        Curator(replace(curate_cfg, benchmarks=["vqa_rad", "vqa_rda"]), repo).run()


def _fingerprint(hasher, text, phashes=()):
    return Fingerprint(list(phashes), hasher.sketch(text))


def test_the_index_reports_every_item_an_image_or_text_overlaps_by_kind():
    hasher, index = MinHasher(128), BenchmarkIndex(0.5, 128)
    question = "Is there evidence of a pneumothorax in the left upper lobe of this chest radiograph?"
    index.add(BenchmarkItem("b", "1", question), _fingerprint(hasher, question, [7]))
    organ = "What organ is shown here?"
    index.add(BenchmarkItem("b", "2", organ), _fingerprint(hasher, organ, [7]))
    index.add(BenchmarkItem("b", "3", "这是什么病？"), _fingerprint(hasher, "这是什么病？"))
    by_image = index.overlaps(None, [7])
    assert [(o.kind, o.item_id) for o in by_image] == [("image", "1"), ("image", "2")]
    exact = index.overlaps(hasher.sketch(question.upper() + "!"), [])
    assert [(o.kind, o.item_id) for o in exact] == [("text_exact", "1")]
    near = index.overlaps(hasher.sketch(question.replace("left", "right")), [])
    assert [(o.kind, o.item_id) for o in near] == [("text_near", "1")] and 0.5 <= near[0].similarity < 1
    assert index.overlaps(hasher.sketch("请回答。"), []) == [], "texts with no [a-z0-9] words are never exact copies"
    assert index.sizes == Counter({"b": 3})


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
