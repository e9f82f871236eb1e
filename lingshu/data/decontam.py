"""Decontamination: the test splits of evaluation benchmarks, indexed so training samples can be checked.

A training sample overlaps a benchmark when one of its images has the same pHash as a benchmark image,
or its question (for captions and reports: its text) matches a benchmark question by MinHash. The
curate stage then drops it (`decontaminate: drop`, the paper's rule) or keeps and counts it (`report`).
The test items are fingerprinted by the curate workers (`screen.Screener.benchmark`) along with the
training records; the index is then built from the fingerprints, in benchmark order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.dedup import TextIndex, TextSketch
from lingshu.data.schema import Sample
from lingshu.data.screen import BenchmarkItem
from lingshu.data.sources import load_source


@dataclass
class Overlap:
    benchmark: str
    kind: str  # image | text
    match: str  # the benchmark item it overlaps


def benchmark_samples(benchmarks: list[SourceConfig], repo: Path) -> Iterator[tuple[str, Sample]]:
    """(benchmark name, test item) for every test-split record of the benchmarks, in order."""
    for bench in benchmarks:
        # A benchmark's group only has to pass the schema check; it is never trained on.
        bench = replace(bench, group=bench.group or "medical_text")
        for record in load_source(bench, repo):
            if isinstance(record, Sample) and record.split == "test":
                yield bench.name, record


@dataclass
class BenchmarkIndex:
    text: TextIndex
    images: dict[int, str] = field(default_factory=dict)  # pHash -> "benchmark:item"
    sizes: Counter = field(default_factory=Counter)

    @classmethod
    def build(cls, items: list[tuple[str, Sample, BenchmarkItem]], threshold: float, num_perm: int) -> "BenchmarkIndex":
        """The index of fingerprinted test items, given as (benchmark name, item, fingerprint) in order."""
        index = cls(TextIndex(threshold, num_perm))
        for name, record, fingerprint in items:
            index.sizes[name] += 1
            item = f"{name}:{record.id}"
            index.text.add(item, fingerprint.overlap)
            for phash in fingerprint.phashes:
                index.images.setdefault(phash, item)
        return index

    def overlaps(self, text: TextSketch, phashes: list[int]) -> list[Overlap]:
        """Overlaps of a training sample, given the sketch of its overlap text and its images' pHashes."""
        found = [Overlap(self.images[h].split(":", 1)[0], "image", self.images[h]) for h in phashes if h in self.images]
        for item, _similarity in self.text.match(text):
            found.append(Overlap(item.split(":", 1)[0], "text", item))
        return found
