"""The `curate` stage: every source record is filtered, deduplicated, decontaminated, de-identified
and labelled, and ends up in exactly one place — a curated table (one per data group) or the rejected
table with its reason. Conservation (inputs = kept + rejected, per source) is asserted before anything
is reported as done.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lingshu.config import CurateConfig, SourceConfig
from lingshu.data.decontam import BenchmarkIndex
from lingshu.data.dedup import PHashIndex, TextIndex
from lingshu.data.deid import deidentify
from lingshu.data.images import ImageInfo, inspect_image, thumbnail_features
from lingshu.data.modality import ModalityClassifier
from lingshu.data.schema import ARROW_SCHEMA, REJECTED_SCHEMA, BadRecord, ImageSource, Rejected, Sample
from lingshu.data.sources import load_source
from lingshu.data.store import ImageStore
from lingshu.io import write_parquet

_TOKEN = re.compile(r"\w+|[^\w\s]")
MEDICAL_IMAGE_MODALITIES = {"x-ray", "ct", "mri", "ultrasound", "nuclear", "pet", "microscopy", "histopathology",
                            "oct", "dermoscopy", "endoscopy", "fundus", "photo"}


def count_tokens(text: str) -> int:
    """Caption length in word-piece tokens (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


class ImageChecker:
    """Inspects each distinct image once (cached by ref) and puts it in the content-addressed store."""

    def __init__(self, cfg: CurateConfig, store: ImageStore):
        self.cfg, self.store = cfg, store
        self.cache: dict[str, ImageInfo | BadRecord] = {}
        self.keys: dict[str, str] = {}

    def __call__(self, image: ImageSource) -> ImageInfo:
        result = self.cache.get(image.ref)
        if result is None:
            try:
                info, stored = inspect_image(image.read(), self.cfg.min_image_side, self.cfg.max_image_pixels,
                                             self.cfg.jpeg_draft)
                self.keys[image.ref] = self.store.put(info.sha256, info.ext, stored)
                result = info
            except BadRecord as bad:
                result = bad
            self.cache[image.ref] = result
        if isinstance(result, BadRecord):
            raise result
        return result


@dataclass
class CurationResult:
    kept: dict[str, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    rejected: list[Rejected] = field(default_factory=list)
    inputs: Counter = field(default_factory=Counter)
    deid_counts: Counter = field(default_factory=Counter)
    overlaps: Counter = field(default_factory=Counter)  # (benchmark, kind) -> samples
    metrics: dict[str, Any] = field(default_factory=dict)


def ordered_sources(cfg: CurateConfig) -> list[SourceConfig]:
    """Sources in dedup priority order: listed names first (most reliable first), then the rest as configured."""
    rank = {name: i for i, name in enumerate(cfg.source_priority)}
    return sorted(cfg.sources, key=lambda s: rank.get(s.name, len(rank)))


class Curator:
    def __init__(self, cfg: CurateConfig, repo: Path):
        self.cfg, self.repo = cfg, repo
        self.store = ImageStore(repo / cfg.image_store)
        self.check_image = ImageChecker(cfg, self.store)
        self.phashes = PHashIndex()
        self.texts = TextIndex(cfg.near_dup_threshold, cfg.minhash_num_perm)
        self.result = CurationResult()

    def run(self) -> CurationResult:
        if self.cfg.decontaminate not in ("drop", "report"):
            raise ValueError(f"curate.decontaminate must be 'drop' or 'report', got {self.cfg.decontaminate!r}")
        self.benchmarks = BenchmarkIndex.build(self.cfg.benchmarks, self.repo, self.cfg.decontam_threshold,
                                               self.cfg.minhash_num_perm, self.check_image)
        for src in ordered_sources(self.cfg):
            for record in tqdm(load_source(src, self.repo), desc=f"curate {src.name}", unit="rec", leave=False,
                               disable=None):  # bars on a terminal, silence in logs
                self.result.inputs[src.name] += 1
                outcome = record if isinstance(record, Rejected) else self.process(record)
                if isinstance(outcome, Rejected):
                    self.result.rejected.append(outcome)
                else:
                    self.result.kept[outcome.group].append(outcome)
        self.label_modalities()
        self.check_conservation()
        return self.result

    def process(self, sample: Sample) -> Sample | Rejected:
        replaced: Counter = Counter()
        if sample.split == "train" and self.cfg.deidentify:  # before the length filter: it can change lengths
            for turn in sample.conversations:
                turn["content"] = deidentify(turn["content"], replaced)
        if sample.task == "caption":
            n = count_tokens(sample.text_of("assistant"))
            if n < self.cfg.caption_min_tokens:
                return Rejected.of(sample, "caption_too_short", f"{n} tokens < {self.cfg.caption_min_tokens}", "length")
            if n > self.cfg.caption_max_tokens:
                return Rejected.of(sample, "caption_too_long", f"{n} tokens > {self.cfg.caption_max_tokens}", "length")
        infos: list[ImageInfo] = []
        for image in sample.images:
            try:
                infos.append(self.check_image(image))
            except BadRecord as bad:
                return Rejected.of(sample, bad.reason, f"{image.ref}: {bad.detail}", "image")
        if sample.split == "train":
            rejection = self.screen_training_sample(sample, infos)
            if rejection is not None:
                return rejection
        self.result.deid_counts.update(replaced)
        sample.meta["image_sizes"] = [[i.width, i.height] for i in infos]
        sample.meta["phashes"] = [f"{i.phash:016x}" for i in infos]
        sample.meta["_features"] = [thumbnail_features(i) for i in infos]
        sample.images = [self.check_image.keys[image.ref] for image in sample.images]
        return sample

    def screen_training_sample(self, sample: Sample, infos: list[ImageInfo]) -> Rejected | None:
        overlaps = self.benchmarks.overlaps(sample, [i.phash for i in infos])
        for benchmark, kind in sorted({(o.benchmark, o.kind) for o in overlaps}):
            self.result.overlaps[(benchmark, kind)] += 1
        if overlaps:
            first = overlaps[0]
            detail = f"{first.kind} overlaps {first.match}" + (f" (+{len(overlaps) - 1} more)" if len(overlaps) > 1 else "")
            if self.cfg.decontaminate == "drop":
                return Rejected.of(sample, "benchmark_overlap", detail, "decontaminate")
            sample.meta["benchmark_overlap"] = sorted({o.benchmark for o in overlaps})
        captions = sample.task == "caption"
        for info in infos:
            owner = self.phashes.claim("captions" if captions else sample.source, info.phash, info.sha256, sample.id,
                                       same_file_is_duplicate=captions)
            if owner is not None:
                return Rejected.of(sample, "duplicate_image", f"same pHash as an image of {owner}", "image_dedup")
        if not captions:
            text = sample.overlap_text() + "\n" + sample.text_of("assistant")
            signature = ",".join(i.sha256 for i in infos)
            minhash = self.texts.minhash(text)  # computed once for both the lookup and the insert
            for key, similarity in self.texts.match(text, minhash):
                if key.split("|", 1)[0] == signature:
                    return Rejected.of(sample, "near_duplicate_text", f"similarity {similarity:.2f} to {key.split('|', 1)[1]}",
                                       "text_dedup")
            self.texts.add(f"{signature}|{sample.id}", text, minhash)
        return None

    def label_modalities(self) -> None:
        kept = [s for group in self.result.kept.values() for s in group]
        labelled: dict[str, tuple[str, np.ndarray]] = {}  # one entry per distinct image, not per question
        for s in kept:
            if s.modality in MEDICAL_IMAGE_MODALITIES and s.modality_source == "metadata":
                for key, features in zip(s.images, s.meta["_features"]):
                    labelled.setdefault(key, (s.modality, features))
        classifier = ModalityClassifier(self.cfg.modality)
        features = np.stack([f for _, f in labelled.values()]) if labelled else np.zeros((0, 1))
        self.result.metrics["modality_classifier"] = classifier.fit(features, [m for m, _ in labelled.values()])
        todo = [s for s in kept if s.images and s.modality is None]
        predictions = classifier.predict(np.stack([s.meta["_features"][0] for s in todo])) if todo else []
        for sample, (label, confidence) in zip(todo, predictions):
            sample.modality, sample.modality_source = label, "classifier"
            sample.meta["modality_confidence"] = round(confidence, 4)
        self.result.metrics["modality_classifier"]["labelled_by_classifier"] = len(predictions)
        for sample in kept:
            del sample.meta["_features"]

    def check_conservation(self) -> None:
        kept = Counter(s.source for group in self.result.kept.values() for s in group)
        rejected = Counter(r.source for r in self.result.rejected)
        broken = {name: (n, kept[name], rejected[name]) for name, n in self.result.inputs.items()
                  if n != kept[name] + rejected[name]}
        if broken:
            raise AssertionError(f"conservation violated (inputs, kept, rejected) per source: {broken}")


def write_outputs(result: CurationResult, cfg: CurateConfig, repo: Path, store: ImageStore) -> None:
    out = repo / cfg.output_dir
    for group, samples in sorted(result.kept.items()):
        write_parquet(out / f"{group}.parquet", [s.to_row() for s in samples], ARROW_SCHEMA)
    write_parquet(repo / cfg.rejected_dir / "rejected.parquet", [r.to_row() for r in result.rejected], REJECTED_SCHEMA)
    referenced = {key for samples in result.kept.values() for s in samples for key in s.images}
    result.metrics["images_pruned"] = store.prune(referenced)
    result.metrics["images_stored"] = len(referenced)
