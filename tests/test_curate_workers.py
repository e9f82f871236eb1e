"""Sharded curation: disjoint shards, failing workers, and two workers deciding exactly as one process.

The equality test runs real records (VQA-RAD with its benchmark, generated instructions and charts,
which contain real near-duplicate texts and duplicate images) plus planted near-duplicates whose pairs
straddle the two shards, including a chain A~B, B~C, A!~C: greedy order keeps A, drops B and keeps C
(its only near-duplicate, B, was not kept). tests/test_dedup_redis.py runs the same cases against Redis.
"""

import json
import os
from dataclasses import replace

import pytest
from datasketch import MinHashLSH

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator
from lingshu.data.dedup import MinHasher, shingles
from lingshu.data.schema import ImageSource, Sample
from lingshu.data.workers import run_workers, shard_of, shards

BASE = ("which antibiotic is the first line treatment for an uncomplicated urinary tract infection in a healthy "
        "young woman who is not pregnant and has no drug allergy").split()
OTHER = ("what is the most sensitive imaging test for detecting a small pneumothorax in a patient lying supine "
         "after a blunt chest trauma in the emergency room").split()
ANSWER = "nitrofurantoin"


def _edit(words: list[str], **changes: str) -> str:
    """The sentence with words replaced by position (e.g. w3="preferred")."""
    words = list(words)
    for position, word in changes.items():
        words[int(position[1:])] = word
    return " ".join(words)


# (id, question): consecutive lines are consecutive records, so each pair below lands on different shards.
PLANTED = [
    ("chain_a", _edit(BASE)),
    ("chain_b", _edit(BASE, w5="best")),
    ("chain_c", _edit(BASE, w5="best", w7="otherwise")),
    ("near_1", _edit(OTHER)),
    ("near_2", _edit(OTHER, w6="upright")),
    ("no_words_1", "这是什么病？"),  # no [a-z0-9] words: no shingles, normalised to "" like every such text
    ("no_words_2", "请回答。"),
    ("control", "Which vitamin deficiency causes scurvy in sailors on long voyages without fresh fruit?"),
]
EXPECTED = {"chain_b": "chain_a", "near_2": "near_1", "no_words_2": "no_words_1"}  # dropped -> the copy kept


def planted_config(curate_cfg, tmp_path):
    """The real curate config cut down to three real sources plus the planted questions, in that order."""
    path = tmp_path / "planted.jsonl"
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": ANSWER if q.isascii() else "肺炎"},
                                       ensure_ascii=False) + "\n" for i, q in PLANTED))
    real = {s.name: s for s in curate_cfg.sources}
    charts = replace(real["general_charts"], options={"count": 80, "seed": 0})  # 80 charts hold 5 duplicate images
    planted = SourceConfig(name="planted", format="mcq_jsonl", path=str(path), group="medical_text", licence="test")
    return replace(curate_cfg, sources=[real["vqa_rad"], real["general_instructions"], charts, planted],
                   source_priority=[], benchmarks=["vqa_rad"])


def outcome(result) -> tuple:
    """Everything a run decided: kept ids per group (in order), rejected (id, reason, detail), counters."""
    kept = {group: [s.id for s in samples] for group, samples in sorted(result.kept.items())}
    rejected = [(r.id, r.reason, r.detail) for r in result.rejected]
    return kept, rejected, dict(result.overlaps), dict(result.deid_counts), dict(result.inputs)


def check_planted(curator, result, workers: int = 2) -> None:
    """The planted pairs straddle the shards, and greedy order decides them as EXPECTED says."""
    order = {r.id: i for i, r in enumerate(curator.records)}
    for dropped, kept in EXPECTED.items():
        a, b = curator.records[order[f"planted:{kept}"]], curator.records[order[f"planted:{dropped}"]]
        assert shard_of(order[a.id], a, workers) != shard_of(order[b.id], b, workers)
    rejected = {r.id: r for r in result.rejected if r.source == "planted"}
    assert {i.split(":")[1]: r.detail.split(" to planted:")[1] for i, r in rejected.items()} == EXPECTED
    assert {r.reason for r in rejected.values()} == {"near_duplicate_text"}
    assert rejected["planted:no_words_2"].detail == "similarity 1.00 to planted:no_words_1"


def test_planted_texts_are_a_chain_and_pairs_at_the_threshold(curate_cfg):
    """Near-duplicates for the index: LSH candidates (which MinHash LSH may miss) at or above the threshold."""
    hasher, threshold = MinHasher(curate_cfg.minhash_num_perm), curate_cfg.near_dup_threshold
    text = {i: hasher.minhash(f"{q}\n{ANSWER}") for i, q in PLANTED if q.isascii()}

    def near(a: str, b: str) -> bool:
        lsh = MinHashLSH(threshold=threshold, num_perm=curate_cfg.minhash_num_perm)
        lsh.insert(a, text[a])
        return lsh.query(text[b]) == [a] and text[a].jaccard(text[b]) >= threshold

    assert near("chain_a", "chain_b") and near("chain_b", "chain_c") and not near("chain_a", "chain_c")
    assert near("near_1", "near_2") and text["near_1"].jaccard(text["near_2"]) < 1.0
    assert not near("chain_a", "control") and not near("near_1", "control")
    assert not shingles(PLANTED[5][1] + "\n肺炎") and not shingles(PLANTED[6][1] + "\n肺炎")


def test_two_workers_in_memory_decide_exactly_as_one_process(curate_cfg, tmp_path, repo):
    cfg = planted_config(curate_cfg, tmp_path)
    single = Curator(replace(cfg, workers=1), repo)
    expected = outcome(single.run())
    sharded = Curator(replace(cfg, workers=2, image_store=str(tmp_path / "images2")), repo)
    result = sharded.run()
    assert outcome(result) == expected
    check_planted(sharded, result)
    reasons = {reason for _, reason, _ in expected[1]}
    assert {"benchmark_overlap", "duplicate_image", "near_duplicate_text"} <= reasons  # every order-dependent rule ran
    assert sorted(os.listdir(tmp_path / "images2")) == sorted(os.listdir(cfg.image_store))


def _samples(refs: list[str | None]) -> list[Sample]:
    return [Sample(f"s:{i}", "s", "medical_text", "vqa", [], [ImageSource(ref, bytes)] if ref else [])
            for i, ref in enumerate(refs)]


def test_shards_are_disjoint_cover_everything_and_keep_an_image_on_one_worker():
    samples = _samples(["a.png", None, "b.png", "a.png", None, None, "c.png", "b.png", "a.png"] * 5 + [None] * 30)
    parts = shards(samples, 3)
    assert sorted(i for part in parts for i in part) == list(range(len(samples)))
    for ref in ("a.png", "b.png", "c.png"):
        owners = {w for w, part in enumerate(parts) for i in part
                  if samples[i].images and samples[i].images[0].ref == ref}
        assert len(owners) == 1
    assert [sum(1 for i in part if i >= 45) for part in parts] == [10, 10, 10]  # text-only records: dealt evenly


def _job(worker, barrier):
    if worker == 1:
        raise KeyError("broken record")
    barrier.wait()  # would wait forever if the failure did not break the barrier
    return worker


def _dies(worker, barrier):
    if worker == 0:
        os._exit(3)
    barrier.wait()
    return worker


def test_results_come_back_in_worker_order():
    assert run_workers(lambda worker, barrier: (barrier.wait(), worker * 10)[1], 3) == [0, 10, 20]


@pytest.mark.timeout(60)
def test_a_failing_worker_is_reported_and_does_not_hang_the_others():
    with pytest.raises(RuntimeError, match="(?s)worker 1:.*KeyError: 'broken record'"):
        run_workers(_job, 2)
    with pytest.raises(RuntimeError, match="worker 0: exited with code 3"):
        run_workers(_dies, 2)
