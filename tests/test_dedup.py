"""Exact image dedup scopes, MinHash near-duplicates, and the source-priority rule."""

import json
from dataclasses import replace

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator
from lingshu.data.dedup import PHashIndex, TextIndex


def test_phash_index_scopes():
    index = PHashIndex()
    assert index.claim("vqa", 7, "sha-a", "q1", same_file_is_duplicate=False) is None
    assert index.claim("vqa", 7, "sha-a", "q2", same_file_is_duplicate=False) is None  # same image, new question
    assert index.claim("vqa", 7, "sha-b", "q3", same_file_is_duplicate=False) == "q1"  # another file, same pHash
    assert index.claim("other", 7, "sha-b", "q4", same_file_is_duplicate=False) is None  # within-dataset scope
    assert index.claim("captions", 7, "sha-a", "c1", same_file_is_duplicate=True) is None
    assert index.claim("captions", 7, "sha-a", "c2", same_file_is_duplicate=True) == "c1"


def test_text_index_finds_near_duplicates_only():
    index = TextIndex(threshold=0.8, num_perm=128)
    index.add("a", "Which of the following drugs is the first line treatment for type 2 diabetes in adults?")
    near = index.match("Which of the following drugs is the first-line treatment for type 2 diabetes in adults ?")
    far = index.match("Which nerve innervates the deltoid muscle of the shoulder?")
    assert [key for key, _ in near] == ["a"] and far == []


def _mcq_file(path, questions):
    path.write_text("".join(json.dumps({"id": str(i), "question": q, "options": {"A": "x", "B": "y"},
                                        "answer_idx": "A"}) + "\n" for i, q in enumerate(questions)))


def test_near_duplicate_keeps_the_copy_from_the_highest_priority_source(curate_cfg, tmp_path, repo):
    shared = "A 45-year-old man presents with crushing chest pain radiating to the left arm. What is the next step?"
    _mcq_file(tmp_path / "exam.jsonl", [shared, "What is the most common cause of community acquired pneumonia?"])
    _mcq_file(tmp_path / "scraped.jsonl", ["Which vitamin deficiency causes scurvy in sailors?", shared])
    sources = [SourceConfig(name=n, format="mcq_jsonl", path=str(tmp_path / f"{n}.jsonl"), group="medical_text",
                            licence="test") for n in ("scraped", "exam")]
    for priority, loser in ((["exam", "scraped"], "scraped:1"), (["scraped", "exam"], "exam:0")):
        cfg = replace(curate_cfg, sources=sources, benchmarks=[], source_priority=priority)
        result = Curator(cfg, repo).run()
        assert [(r.id, r.reason) for r in result.rejected] == [(loser, "near_duplicate_text")]
