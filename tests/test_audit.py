"""`lingshu audit` and `lingshu eval --exclude`: which test items training data holds, and the clean subset's score.

The expectations are recomputed here from the data (file names, pHashes, normalised questions), or taken
from curation's own decisions, never from the audit's output."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lingshu.cli import main
from lingshu.data.curate import Curator
from lingshu.data.dedup import normalise_text
from lingshu.data.images import inspect_image


@pytest.fixture(scope="module")
def vqa_rad_records():
    """The VQA-RAD release: (test records, train records)."""
    from conftest import REPO

    records = json.loads((REPO / "data/sources/vqa_rad/vqa_rad.json").read_text())
    test = [r for r in records if str(r["phrase_type"]).startswith("test")]
    return test, [r for r in records if r not in test]


def _audit(tmp_path, *args):
    out = tmp_path / f"audit{len(list(tmp_path.glob('audit*.json')))}.json"
    assert main(["audit", *args, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_curated_data_audits_clean_and_an_undecontaminated_run_shows_what_curation_flagged(curate_cfg, repo,
                                                                                          tmp_path, capsys):
    src = next(s for s in curate_cfg.sources if s.name == "vqa_rad")
    cfg = replace(curate_cfg, sources=[src], benchmarks=["vqa_rad"], source_priority=["vqa_rad"])
    curator = Curator(cfg, repo)
    curator.run()
    clean = _audit(tmp_path, "--train", cfg.output_dir, "--images", cfg.image_store, "--benchmarks", "vqa_rad")
    entry = clean["benchmarks"]["vqa_rad"]
    assert entry["items"] == 451 and entry["overlapped"] == 0 and entry["ids"] == []
    assert clean["train"]["records"] > 500 and clean["train"]["unreadable_images"] == 0
    assert "split test (not trained on)" in clean["train"]["not_read"]

    reported = replace(cfg, decontaminate="report")
    curator = Curator(reported, repo)
    result = curator.run()
    flagged = [s for group in result.kept.values() for s in group
               if s.split == "train" and "vqa_rad" in s.meta.get("benchmark_overlap", [])]
    audit = _audit(tmp_path, "--train", cfg.output_dir, "--images", cfg.image_store, "--benchmarks", "vqa_rad")
    assert audit["benchmarks"]["vqa_rad"]["training_records"] == len(flagged) > 1000
    assert "vqa_rad" in capsys.readouterr().out


def test_vqa_rads_own_train_split_shares_images_with_its_test_split(repo, tmp_path, vqa_rad_records):
    """VQA-RAD splits by question, not image: the audit lists every test question whose image (by pHash)
    or question (after normalisation) the train split has."""
    test, train = vqa_rad_records
    folder = repo / "data/sources/vqa_rad/images"

    def phash(name):
        return inspect_image((folder / name).read_bytes(), 1, 10**9, False)[0].phash

    hashes = {name: phash(name) for name in {r["image_name"] for r in test + train}}
    train_hashes = {hashes[r["image_name"]] for r in train}
    train_questions = {normalise_text(r["question"]) for r in train}
    by_image = [str(r["qid"]) for r in test if hashes[r["image_name"]] in train_hashes]
    by_text = [str(r["qid"]) for r in test if normalise_text(r["question"]) in train_questions]

    audit = _audit(tmp_path, "--train", "data/sources/vqa_rad/vqa_rad.json", "--format", "vqa_rad_json",
                   "--option", "image_dir=images", "--benchmarks", "vqa_rad")
    entry = audit["benchmarks"]["vqa_rad"]
    assert entry["ids_by_kind"]["image"] == by_image and len(by_image) > 400
    assert entry["ids_by_kind"]["text_exact"] == by_text and by_text
    assert entry["ids"] == [str(r["qid"]) for r in test if str(r["qid"]) in set(by_image) | set(by_text)]
    assert audit["train"]["records"] == len(train) and audit["train"]["not_read"] == {"split test (not trained on)": len(test)}
    some = entry["ids_by_kind"]["image"][0]
    image = next(r["image_name"] for r in test if str(r["qid"]) == some)
    assert all(next(r for r in train if f"vqa_rad:{r['qid']}" == record)["image_name"] in
               {n for n, h in hashes.items() if h == hashes[image]} | {image}
               for record in entry["examples"][some])


@pytest.fixture
def planted(repo, vqa_rad_records):
    """A test question copied word for word, and a test image copied byte for byte, among unrelated rows."""
    test, _ = vqa_rad_records
    question = test[0]
    image = test[-1]["image_name"]
    on_image = [str(r["qid"]) for r in test if r["image_name"] == image]
    copied = [str(r["qid"]) for r in test if normalise_text(r["question"]) == normalise_text(question["question"])]
    data = (repo / "data/sources/vqa_rad/images" / image).read_bytes()
    rows = [{"id": "q", "question": question["question"].upper(), "image": None},
            {"id": "i", "question": "Describe the weather on this postcard.", "image": {"bytes": data, "path": None}},
            {"id": "x", "question": "What colour is the sky?", "image": None}]
    return rows, data, on_image, copied


def test_a_parquet_table_a_saved_dataset_and_an_image_folder_are_audited(tmp_path, planted):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, data, on_image, copied = planted
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "sft.parquet")
    hub = datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())
    hub.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "pictures" / "sub").mkdir(parents=True)
    (tmp_path / "pictures" / "sub" / "copy.jpg").write_bytes(data)
    for train, expected in ((tmp_path / "sft.parquet", (on_image, copied)), (tmp_path / "saved", (on_image, copied)),
                            (tmp_path / "pictures", (on_image, []))):
        entry = _audit(tmp_path, "--train", str(train), "--benchmarks", "vqa_rad")["benchmarks"]["vqa_rad"]
        assert (entry["ids_by_kind"]["image"], entry["ids_by_kind"]["text_exact"]) == expected, train
        assert entry["by_kind"]["image"]["training_records"] == 1


def test_exclude_scores_the_clean_subset_beside_the_full_set(repo, tmp_path, capsys):
    import lingshu.eval.loaders  # noqa: F401
    from lingshu.eval.benchmark import discover

    audit = _audit(tmp_path, "--train", "data/sources/vqa_rad/vqa_rad.json", "--format", "vqa_rad_json",
                   "--option", "image_dir=images", "--benchmarks", "vqa_rad")
    listed = set(audit["benchmarks"]["vqa_rad"]["ids"])
    items = discover()["vqa_rad"].items(repo)
    kept = [item.id for item in items if item.id not in listed]
    right = {item.id for k, item in enumerate(items) if k % 3 == 0} | set(kept[:2])
    out = tmp_path / "eval"
    (out / "vqa_rad").mkdir(parents=True)
    (out / "vqa_rad" / "predictions.jsonl").write_text("".join(json.dumps(
        {"id": item.id, "prompt_hash": "h", "kind": "open", "prompt": "Q", "answer": item.answer, "options": {},
         "response": item.answer if item.id in right else "no idea", "fields": {}}) + "\n" for item in items))
    assert main(["eval", "--rescore", "--out", str(out), "--benchmarks", "vqa_rad",
                 "--exclude", str(tmp_path / "audit0.json")]) == 0
    clean = json.loads((out / "vqa_rad" / "metrics_rescored_strict.json").read_text())["clean"]
    assert clean["excluded"] == len(listed) and clean["n"] == len(kept) > 0
    assert clean["score"] == pytest.approx(100 * sum(i in right for i in kept) / len(kept))
    full = 100 * len(right) / len(items)
    gap = clean["clean_minus_full"]
    assert gap["delta"] == pytest.approx(clean["score"] - full) and gap["ci_low"] <= gap["delta"] <= gap["ci_high"]
    assert "clean subsets" in capsys.readouterr().out
    assert json.loads((out / "metrics_rescored_strict.json").read_text())["benchmarks"]["vqa_rad"]["clean"] == clean

    moved = json.loads((tmp_path / "audit0.json").read_text())
    moved["benchmarks"]["vqa_rad"]["data"] = "/elsewhere/vqa_rad.json"
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    with pytest.raises(SystemExit, match=r"moved.json: benchmarks.vqa_rad was audited on /elsewhere/vqa_rad.json"):
        main(["eval", "--rescore", "--out", str(out), "--benchmarks", "vqa_rad", "--exclude", str(tmp_path / "moved.json")])
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"other.json: field 'format' is None"):
        main(["eval", "--rescore", "--out", str(out), "--benchmarks", "vqa_rad", "--exclude", str(tmp_path / "other.json")])


def test_without_exclude_the_metrics_have_no_clean_entry(repo, tmp_path):
    import lingshu.eval.loaders  # noqa: F401
    from lingshu.eval.benchmark import discover
    from lingshu.eval.suite import SuiteRun, evaluate_suite

    items = discover()["pubmedqa"].items(repo, limit=5)
    out = tmp_path / "eval"
    (out / "pubmedqa").mkdir(parents=True)
    (out / "pubmedqa" / "predictions.jsonl").write_text("".join(json.dumps(
        {"id": i.id, "prompt_hash": "h", "kind": "mcq", "prompt": "Q", "answer": i.answer, "options": i.options,
         "response": "A", "fields": i.fields}) + "\n" for i in items))
    results, suite = evaluate_suite([discover()["pubmedqa"]], None, out, SuiteRun(root=repo, limit=5))
    assert "clean" not in results[0] and "clean" not in suite["benchmarks"]["pubmedqa"]
