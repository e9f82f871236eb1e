"""Decontamination: the test splits of evaluation benchmarks, indexed so training samples can be checked.

A training sample overlaps a benchmark when one of its images has the same pHash as a benchmark image,
or its question (for captions and reports: its text) matches a benchmark question by MinHash. The
curate stage then drops it (`decontaminate: drop`, the paper's rule) or keeps and counts it (`report`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from lingshu.config import SourceConfig
from lingshu.data.dedup import TextIndex
from lingshu.data.images import ImageInfo
from lingshu.data.schema import BadRecord, ImageSource, Sample
from lingshu.data.sources import load_source


@dataclass
class Overlap:
    benchmark: str
    kind: str  # image | text
    match: str  # the benchmark item it overlaps


@dataclass
class BenchmarkIndex:
    text: TextIndex
    images: dict[int, str] = field(default_factory=dict)  # pHash -> "benchmark:item"
    sizes: Counter = field(default_factory=Counter)

    @classmethod
    def build(cls, benchmarks: list[SourceConfig], repo: Path, threshold: float, num_perm: int,
              inspect: Callable[[ImageSource], ImageInfo]) -> "BenchmarkIndex":
        index = cls(TextIndex(threshold, num_perm))
        for bench in benchmarks:
            # A benchmark's group only has to pass the schema check; it is never trained on.
            bench = replace(bench, group=bench.group or "medical_text")
            for record in load_source(bench, repo):
                if not isinstance(record, Sample) or record.split != "test":
                    continue
                index.sizes[bench.name] += 1
                item = f"{bench.name}:{record.id}"
                index.text.add(item, record.overlap_text())
                for image in record.images:
                    try:
                        index.images.setdefault(inspect(image).phash, item)
                    except BadRecord:
                        continue
        return index

    def overlaps(self, sample: Sample, phashes: list[int]) -> list[Overlap]:
        found = [Overlap(self.images[h].split(":", 1)[0], "image", self.images[h]) for h in phashes if h in self.images]
        for item, _similarity in self.text.match(sample.overlap_text()):
            found.append(Overlap(item.split(":", 1)[0], "text", item))
        return found
