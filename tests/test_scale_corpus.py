"""The scale corpus: curation of a generated corpus matches its answer key exactly, the key check sees a
difference in either output layout, the same seed writes the same bytes, and the images are what the
key assumes (distinct originals have distinct pHashes; re-encoded copies share theirs)."""

import hashlib
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingshu.cli import build_parser, main
from lingshu.config import load_section
from lingshu.data.images import inspect_image
from lingshu.data.scale_corpus import PLANTS, check_answer_key, generate
from lingshu.data.scale_images import STYLES, decoded as decoded_image, encode, original, reencoded

BENCHMARKS = ["vqa_rad", "medqa"]


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A 300-record corpus, curated through the curate stage's own function with the corpus's params file."""
    from conftest import REPO as repo
    from lingshu.data.curate_report import curate_and_report

    corpus = tmp_path_factory.mktemp("scale") / "corpus"
    summary = generate(corpus, 300, 0, load_section("curate", repo / "params.yaml"), BENCHMARKS, repo)
    cfg = load_section("curate", corpus / "params.yaml")
    metrics, _ = curate_and_report(cfg, repo)
    return corpus, cfg, summary, metrics


def test_curation_matches_the_answer_key(curated):
    corpus, cfg, summary, metrics = curated
    assert check_answer_key(cfg.output_dir, cfg.rejected_dir, corpus / "answer_key.parquet") == []
    key = pq.read_table(corpus / "answer_key.parquet").to_pylist()
    assert len(key) == 300 == metrics["inputs"]
    assert {(r["source"], r["plant"]) for r in key if r["plant"]} == {(p.source, p.kind) for p in PLANTS}
    assert sum(r["expected"] == "kept" for r in key) == metrics["kept"] > 200
    assert summary["near_duplicates_by_case_only"] == 0  # every near-duplicate changed words


def test_the_key_check_reads_both_layouts_and_names_each_difference(curated, tmp_path):
    corpus, cfg, _, _ = curated
    sharded = tmp_path / "curated"
    for entry in sorted(Path(cfg.output_dir).iterdir()):  # a table per group, or a folder of parts per group
        table, group = pq.read_table(entry), entry.stem if entry.is_file() else entry.name
        half = len(table) // 2
        (sharded / group).mkdir(parents=True)
        pq.write_table(table.slice(0, half), sharded / group / "part-00000.parquet")
        pq.write_table(table.slice(half), sharded / group / "part-00001.parquet")
    assert check_answer_key(sharded, cfg.rejected_dir, corpus / "answer_key.parquet") == []

    key = pq.read_table(corpus / "answer_key.parquet")
    rows = key.to_pylist()
    kept = next(r for r in rows if r["expected"] == "kept")
    near = next(r for r in rows if r["reason"] == "near_duplicate_text")
    kept |= {"expected": "rejected", "reason": "duplicate_image"}
    near["reason"] = "benchmark_overlap"
    wrong = tmp_path / "wrong_key.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=key.schema), wrong)
    assert check_answer_key(sharded, cfg.rejected_dir, wrong) == sorted([
        f"{kept['id']}: expected rejected (duplicate_image), got kept",
        f"{near['id']}: expected rejected (benchmark_overlap), got rejected (near_duplicate_text)"])
    shutil.rmtree(sharded / "medical_text")
    lost = check_answer_key(sharded, cfg.rejected_dir, corpus / "answer_key.parquet")
    assert lost and all(line.endswith("expected kept, got nothing") and line.startswith("scale_mcq:") for line in lost)


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_seed_writes_the_same_bytes(tmp_path, repo):
    cfg = load_section("curate", repo / "params.yaml")
    out = tmp_path / "corpus"
    generate(out, 200, 3, cfg, BENCHMARKS, repo)
    first = _digests(out)
    shutil.rmtree(out)
    generate(out, 200, 3, cfg, BENCHMARKS, repo)
    assert _digests(out) == first
    assert {"answer_key.parquet", "params.yaml", "mcq.jsonl", "images/metadata.jsonl", "vqa_rad/vqa_rad.json"} <= set(first)
    shutil.rmtree(out)
    generate(out, 200, 4, cfg, BENCHMARKS, repo)
    other = _digests(out)
    assert other["answer_key.parquet"] != first["answer_key.parquet"] and other["mcq.jsonl"] != first["mcq.jsonl"]


def test_distinct_originals_have_distinct_phashes_and_copies_share_theirs(repo):
    cfg = load_section("curate", repo / "params.yaml")
    hashes = [inspect_image(encode(original(0, i, style, 64), "PNG"), 64, cfg.max_image_pixels)[0].phash
              for i in range(500) for style in STYLES]
    assert len(set(hashes)) >= 0.999 * len(hashes)
    rng = random.Random(0)
    for i in range(20):
        picture = original(1, i, rng.choice(tuple(STYLES)), 64)
        data = encode(picture, "JPEG", quality=90) if i % 2 else encode(picture, "PNG")
        decoded = decoded_image(data)
        target = inspect_image(data, 64, cfg.max_image_pixels)[0]
        copy, _ = reencoded(decoded, data, target.phash, cfg, rng)
        found = inspect_image(copy, 64, cfg.max_image_pixels)[0]
        assert found.phash == target.phash and found.sha256 != target.sha256


def test_cli_generates_and_checks_a_corpus(curated, tmp_path, capsys, repo):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["scale-corpus", "--help"])
    assert exit_info.value.code == 0
    assert "answer_key.parquet" in capsys.readouterr().out
    out = tmp_path / "corpus"
    assert main(["scale-corpus", "--out", str(out), "--records", "200", "--params", str(repo / "params.yaml"),
                 "--root", str(repo)]) == 0
    assert "200 records" in capsys.readouterr().out and (out / "answer_key.parquet").exists()
    assert main(["scale-corpus", "--check", str(curated[0])]) == 0
    assert "answer key matched" in capsys.readouterr().out
    assert main(["scale-corpus", "--check", str(out)]) == 1  # never curated: every record is missing
