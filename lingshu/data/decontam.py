"""Overlap with evaluation benchmarks: their items read as the evaluation reads them, indexed for matching.

One benchmark system: the benchmarks are the evaluation's YAMLs (lingshu/eval/benchmarks/, found by
name), read by the evaluation's loaders, so decontamination compares exactly the items and the text the
evaluation asks about. `benchmark_item` is the one adapter from an evaluation item to what it is matched on:
its images and its question (for report generation, whose prompt is generic, the reference report).

A training record overlaps a test item when one of its images has the same pHash as one of the item's
images, or its text (`Sample.overlap_text`: the question, or the whole answer for captions and reports)
equals the item's after normalisation or is at least `threshold` similar by MinHash. The curate stage
drops such records (`decontaminate: drop`, the paper's rule) or keeps and counts them (`report`);
`lingshu audit` lists, per benchmark, the test items any training data overlaps (lingshu.data.audit).
Both fingerprint with `screen.Screener` and match with `BenchmarkIndex`: one code path.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from datasketch import LeanMinHash, MinHashLSH

from lingshu.data.dedup import TextSketch
from lingshu.data.schema import ImageSource

log = logging.getLogger("lingshu.data.decontam")
KINDS = ("image", "text_exact", "text_near")  # how a test item can be overlapped


@dataclass
class BenchmarkItem:
    """An evaluation item as decontamination sees it: what it is matched on, and whether its images were found."""

    benchmark: str
    id: str
    text: str
    images: list[ImageSource] = field(default_factory=list)
    images_missing: str = ""  # why its images could not be read (matched on its text only), "" when they were

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.id}"


def benchmark_item(bench, item, repo: Path) -> BenchmarkItem:
    """The adapter: an evaluation item (lingshu.eval.benchmark.EvalItem) of `bench` as the text and images it is
    matched on. Images the evaluation could not read either (a folder not downloaded) leave the item matched
    on its text, with the reason kept."""
    from lingshu.data.sources.common import file_image

    text = item.answer if bench.task == "report" else item.question
    try:
        paths = item.ready().images
    except FileNotFoundError as exc:
        return BenchmarkItem(bench.name, item.id, text, [], str(exc))
    return BenchmarkItem(bench.name, item.id, text, [file_image(Path(p), repo) for p in paths])


def select_benchmarks(names: list[str], extra_dirs: list[Path] = (), key: str = "curate.benchmarks") -> list:
    """The evaluation benchmarks named (names or groups, as `lingshu eval --benchmarks` takes them); a name that
    is neither is an error naming `key`, raised before any work."""
    import lingshu.eval.loaders  # noqa: F401  (registers the loaders)
    from lingshu.eval.benchmark import select

    try:
        return select(list(names), list(extra_dirs))
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def benchmark_items(benches: list, repo: Path) -> Iterator[BenchmarkItem]:
    """Every item each benchmark's evaluation asks about (its YAML's `path:` and `split:`, all of them: no
    `limit`), in benchmark and file order; a benchmark whose images are missing is named once in the log."""
    for bench in benches:
        warned = False
        for item in bench.listed(repo):
            converted = benchmark_item(bench, item, repo)
            if converted.images_missing and not warned:
                log.warning("%s: images not found, its items are matched on their text only (%s)", bench.name,
                            converted.images_missing)
                warned = True
            yield converted


@dataclass(frozen=True)
class Fingerprint:
    """What matching needs from a record or test item: its images' pHashes (the readable ones) and its text's sketch."""

    phashes: list[int]
    text: TextSketch


@dataclass(frozen=True)
class Overlap:
    benchmark: str
    kind: str  # image | text_exact | text_near
    item: str  # the test item it overlaps, "benchmark:id"
    similarity: float = 1.0  # MinHash similarity for text_near

    @property
    def item_id(self) -> str:
        return self.item.split(":", 1)[1]


class BenchmarkIndex:
    """Test items by image pHash, by normalised text and in a MinHash LSH; `overlaps` finds every item a
    fingerprinted training record overlaps. Texts that normalise to nothing (no [a-z0-9] words) are matched
    by MinHash only, never as exact copies of each other."""

    def __init__(self, threshold: float, num_perm: int):
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.minhashes: dict[str, LeanMinHash] = {}
        self.texts: dict[str, list[str]] = defaultdict(list)  # normalised text -> items
        self.images: dict[int, list[str]] = defaultdict(list)  # pHash -> items
        self.sizes: Counter = Counter()  # benchmark -> test items
        self.without_images: Counter = Counter()  # benchmark -> items whose images were not found

    @classmethod
    def build(cls, items: list[tuple[BenchmarkItem, Fingerprint]], threshold: float, num_perm: int) -> "BenchmarkIndex":
        """The index of fingerprinted test items, given in benchmark order (earlier items are reported first)."""
        index = cls(threshold, num_perm)
        for item, fingerprint in items:
            index.add(item, fingerprint)
        return index

    def add(self, item: BenchmarkItem, fingerprint: Fingerprint) -> None:
        self.sizes[item.benchmark] += 1
        self.without_images[item.benchmark] += bool(item.images_missing)
        for phash in dict.fromkeys(fingerprint.phashes):
            self.images[phash].append(item.key)
        if fingerprint.text.normalised:
            self.texts[fingerprint.text.normalised].append(item.key)
        if fingerprint.text.minhash is not None and item.key not in self.minhashes:
            self.minhashes[item.key] = fingerprint.text.minhash
            self.lsh.insert(item.key, fingerprint.text.minhash)

    def overlaps(self, text: TextSketch | None, phashes: list[int]) -> list[Overlap]:
        """Every test item a training record overlaps, given its text's sketch (None: no text) and its images'
        pHashes: image overlaps first (in the record's image order), then exact texts, then near ones by
        falling similarity."""
        found = [Overlap(key.split(":", 1)[0], "image", key)
                 for phash in dict.fromkeys(phashes) for key in self.images.get(phash, ())]
        if text is None:
            return found
        exact = self.texts.get(text.normalised, []) if text.normalised else []
        found += [Overlap(key.split(":", 1)[0], "text_exact", key) for key in exact]
        if text.minhash is not None:
            near = []
            for key in self.lsh.query(text.minhash):
                similarity = float(text.minhash.jaccard(self.minhashes[key]))
                if similarity >= self.threshold and key not in exact:
                    near.append(Overlap(key.split(":", 1)[0], "text_near", key, similarity))
            found += sorted(near, key=lambda o: (-o.similarity, o.item))
        return found
