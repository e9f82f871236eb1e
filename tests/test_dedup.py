"""Exact image dedup scopes, MinHash near-duplicates, the source-priority rule, and the distributed
near-duplicate rule (LSH band groups, verified pairs, connected components) against an independent one."""

import json
import pickle
import random
from dataclasses import replace

import pyarrow as pa
import pytest
from datasketch import MinHashLSH

from lingshu.config import SourceConfig
from lingshu.data.curate import Curator
from lingshu.data.dedup import MinHasher, PHashIndex, TextCandidate, TextIndex
from lingshu.data.reading import SCREENED, Pending
from lingshu.data.resolve import FOUND, KEYS, Resolution, band_ranges, resolve_group, shuffle_keys
from lingshu.data.schema import Sample


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
    """The single-process rule of earlier versions: match against the kept texts of the same signature."""
    index, dropped = TextIndex(threshold), {}
    for order, (text, signature) in enumerate(zip(texts, signatures)):
        hits = [(int(key.split("|")[1]), s) for key, s in index.match(text) if key.split("|")[0] == signature]
        if hits:
            dropped[order] = hits
        else:
            index.add(f"{signature}|{order}", text)
    return dropped


def _lsh_edges(texts: list[str], signatures: list[str], threshold: float) -> set[tuple[int, int]]:
    """Near-duplicate pairs as datasketch's own MinHashLSH finds them (candidates verified by Jaccard), plus
    equal word-less texts about the same images (they can only match exactly): the independent expectation."""
    hasher = MinHasher()
    sketches = [hasher.sketch(t) for t in texts]
    lsh = MinHashLSH(threshold=threshold, num_perm=hasher.num_perm)
    for order, sketch in enumerate(sketches):
        if sketch.minhash is not None:
            lsh.insert(order, sketch.minhash)
    edges = set()
    for a, sketch in enumerate(sketches):
        others = lsh.query(sketch.minhash) if sketch.minhash is not None else [
            b for b, other in enumerate(sketches) if other.minhash is None]
        for b in others:
            if a < b and signatures[a] == signatures[b] and (
                    texts[a].strip() == texts[b].strip() if sketch.minhash is None
                    else sketch.minhash.jaccard(sketches[b].minhash) >= threshold):
                edges.add((a, b))
    return edges


def _components_dropped(n: int, edges: set[tuple[int, int]]) -> set[int]:
    """Every member of a connected component but its first, by breadth-first search."""
    neighbours = {i: set() for i in range(n)}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen, dropped = set(), set()
    for start in range(n):
        if start in seen:
            continue
        component, frontier = {start}, [start]
        while frontier:
            for other in neighbours[frontier.pop()] - component:
                component.add(other)
                frontier.append(other)
        seen |= component
        dropped |= component - {min(component)}
    return dropped


def _distributed(texts: list[str], signatures: list[str], threshold: float) -> dict:
    """The curate stage's rule without Ray: the group-by keys, each group resolved, then the components."""
    hasher = MinHasher()
    table = pa.Table.from_pylist([
        {"order": order, "source": "s", "source_total": None, "alive": True,
         "payload": pickle.dumps(Pending(Sample(f"s:{order}", "s", "medical_text", "mcq", []),
                                         text=TextCandidate.of(signature, text, hasher)))}
        for order, (text, signature) in enumerate(zip(texts, signatures))], schema=SCREENED)
    keys = shuffle_keys(table, band_ranges(threshold, hasher.num_perm)).to_pylist()
    by_key = {}
    for row in keys:
        by_key.setdefault(row["key"], []).append(row)
    found = [r for rows in by_key.values()
             for r in resolve_group(pa.Table.from_pylist(rows, schema=KEYS), threshold).to_pylist()]
    return _decided_in_batches(found)


def _decided_in_batches(found: list[dict]) -> dict:
    """What the driver decides from the group-by's output arriving in batches (as the stage streams it); the
    same as from all rows at once."""
    resolution = Resolution()
    for start in range(0, len(found), 7):
        resolution.add_batch(pa.Table.from_pylist(found[start:start + 7], schema=FOUND))
    decided = resolution.decide()
    whole = Resolution()
    whole.add_batch(pa.Table.from_pylist(found, schema=FOUND))
    assert decided == whole.decide()
    return decided


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_components_drop_all_but_the_first_of_each_near_duplicate_component(seed):
    texts, signatures = _texts(seed)
    expected = _components_dropped(len(texts), _lsh_edges(texts, signatures, 0.85))
    dropped = _distributed(texts, signatures, 0.85)
    assert 40 < len(expected) < len(texts) - 40  # both outcomes are common
    assert set(dropped) == expected
    assert all(d.reason == "near_duplicate_text" for d in dropped.values())
    greedy = {order for order in _greedy(texts, signatures, 0.85) if MinHasher().sketch(texts[order]).minhash}
    assert greedy <= expected  # components drop what the greedy rule dropped, and chain ends besides


def test_a_chain_is_one_component_where_the_greedy_rule_kept_its_far_end():
    """A~B and B~C but A≁C: the greedy rule drops B (near A) and keeps C (its only near-duplicate, B, was
    dropped); connected components drop B and C, and C's reason names B and the kept A."""
    base = [f"w{i}" for i in range(60)]
    b = base[:56] + ["x1", "x2", "x3", "x4"]  # the last four words edited
    c = b[:52] + ["y1", "y2", "y3", "y4"] + b[56:]  # and then the four before them
    texts, signatures = [" ".join(base), " ".join(b), " ".join(c)], ["", "", ""]
    hasher = MinHasher()
    a_, b_, c_ = (hasher.sketch(t).minhash for t in texts)
    assert a_.jaccard(b_) >= 0.85 and b_.jaccard(c_) >= 0.85 and a_.jaccard(c_) < 0.85  # the chain is real
    assert set(_greedy(texts, signatures, 0.85)) == {1}
    dropped = _distributed(texts, signatures, 0.85)
    assert set(dropped) == {1, 2}
    assert "to s:1" in dropped[2].detail and "kept text is s:0" in dropped[2].detail


def test_texts_without_words_are_duplicates_only_of_equal_texts_about_the_same_images():
    """Texts with no [a-z0-9] word (here Chinese and punctuation) have no MinHash and all normalise to "".
    Only an equal text (case and whitespace folded) about the same images is their duplicate. The greedy rule
    compared each with the first word-less text kept anywhere: it dropped 3 (a different text, because the
    first, 0, was about the same image) and kept every word-less text about y (the first was about x)."""
    texts = ["？", "——", "!!", "肺炎", "？ ", "肺炎", "  ——"]
    signatures = ["x", "y", "y", "x", "y", "x", "y"]
    dropped = _distributed(texts, signatures, 0.85)
    assert set(dropped) == {5, 6}
    assert dropped[5].detail == "similarity 1.00 to s:3" and dropped[6].detail == "similarity 1.00 to s:1"
    assert set(_greedy(texts, signatures, 0.85)) == {3, 5}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_image_claims_decided_per_group_match_the_single_pass(seed):
    """Groups whose claimants all have one image decide alone (only losers reach the driver); a group with a
    multi-image sample goes to the driver whole, since that sample stops claiming at its first duplicate, which
    may be in another group. Together they drop exactly what one pass over the corpus drops."""
    rng = random.Random(seed)
    phashes, files = list(range(60)), {p: [f"{p}-a", f"{p}-b"] for p in range(60)}  # two files per pHash
    claims = []  # per sample: [(phash, sha256)], in corpus order
    for _ in range(120):
        claims.append([(p, rng.choice(files[p])) for p in rng.sample(phashes, rng.choice([1] * 8 + [2, 3]))])
    single_pass, index = set(), PHashIndex()
    for order, images in enumerate(claims):
        for phash, sha in images:
            if index.claim("s", phash, sha, f"s:{order}", same_file_is_duplicate=False) is not None:
                single_pass.add(order)
                break
    table = pa.Table.from_pylist([
        {"order": order, "source": "s", "source_total": None, "alive": True,
         "payload": pickle.dumps(Pending(Sample(f"s:{order}", "s", "medical_multimodal", "vqa", []), claims=images))}
        for order, images in enumerate(claims)], schema=SCREENED)
    by_key = {}
    for row in shuffle_keys(table, band_ranges(0.85, 128)).to_pylist():
        by_key.setdefault(row["key"], []).append(row)
    found = [r for rows in by_key.values()
             for r in resolve_group(pa.Table.from_pylist(rows, schema=KEYS), 0.85).to_pylist()]
    kinds = {r["kind"] for r in found}
    assert {"lost", "claim"} <= kinds  # both paths were taken
    assert 10 < len(single_pass) < 110
    assert set(_decided_in_batches(found)) == single_pass
