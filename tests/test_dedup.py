"""Exact image dedup scopes, MinHash near-duplicates, the source-priority rule, and the order-free
near-duplicate edges that sharded curation replays in order (they must drop what the greedy index drops)."""

import json
import random
from dataclasses import replace

import pytest

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator
from lingshu.data.dedup import KeptTexts, MinHasher, PHashIndex, TextCandidate, TextIndex
from lingshu.data.neardup import NearDupIndex


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


def _texts(seed: int, n: int = 400) -> tuple[list[str], list[str]]:
    """Texts drawn as edits of edits of a few base sentences (near-duplicates, chains, exact copies, and
    texts with no [a-z0-9] words), each about one of three image signatures."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(25, 35))) for _ in range(30)]
    for _ in range(n):
        if rng.random() < 0.1:
            texts.append(rng.choice(["？", "——", "肺炎", "!!"]))
            continue
        words = rng.choice(texts[:30] if rng.random() < 0.3 else texts).split() or ["w0"]
        for _ in range(rng.choice([0, 1, 1, 2])):
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        texts.append(" ".join(words))
    return texts[30:], [rng.choice(["", "sha-a", "sha-b"]) for _ in range(n)]


def _greedy(texts: list[str], signatures: list[str], threshold: float) -> dict[int, list[tuple[int, float]]]:
    """The single-process rule: match against the kept texts of the same signature, add the text when kept."""
    index, dropped = TextIndex(threshold), {}
    for order, (text, signature) in enumerate(zip(texts, signatures)):
        hits = [(int(key.split("|")[1]), s) for key, s in index.match(text) if key.split("|")[0] == signature]
        if hits:
            dropped[order] = hits
        else:
            index.add(f"{signature}|{order}", text)
    return dropped


def _replayed(texts: list[str], signatures: list[str], threshold: float) -> dict[int, tuple[int, float]]:
    """The sharded rule: all texts in one index, edges to earlier texts, then KeptTexts in order."""
    hasher = MinHasher()
    candidates = {order: TextCandidate(signature, hasher.sketch(text))
                  for order, (text, signature) in enumerate(zip(texts, signatures))}
    index = NearDupIndex(threshold, hasher.num_perm)
    index.insert(candidates)
    index.edges(candidates)
    kept, dropped = KeptTexts(), {}
    for order, candidate in candidates.items():
        match = kept.duplicate_of(candidate)
        if match is None:
            kept.keep(order, candidate)
        else:
            dropped[order] = match
    return dropped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edges_replayed_in_order_drop_exactly_what_the_greedy_index_drops(seed):
    texts, signatures = _texts(seed)
    greedy, replayed = _greedy(texts, signatures, 0.85), _replayed(texts, signatures, 0.85)
    assert 40 < len(greedy) < len(texts) - 40  # both outcomes are common
    assert any(0.85 <= hits[0][1] < 1.0 for hits in greedy.values())  # near (not only exact) duplicates
    assert replayed.keys() == greedy.keys()
    for order, (earlier, similarity) in replayed.items():
        assert similarity == greedy[order][0][1]  # the best match; among equals, any may be named
        assert (earlier, similarity) in greedy[order]


def test_texts_without_words_follow_the_exact_rule_of_the_first_kept_one():
    """All word-less texts normalise to "": the first kept one decides, and only for its own signature."""
    hasher, kept = MinHasher(), KeptTexts()
    a, b, c, d = (TextCandidate(signature, hasher.sketch(text)) for signature, text in
                  [("x", "？"), ("y", "——"), ("y", "!!"), ("x", "肺炎")])
    for order, candidate in enumerate([a, b, c]):
        assert kept.duplicate_of(candidate) is None  # b and c differ in signature from a, the first kept
        kept.keep(order, candidate)
    assert kept.duplicate_of(d) == (0, 1.0)
