"""The `curate` stage: every source record is filtered, deduplicated, decontaminated, de-identified
and labelled, and ends up in exactly one place — a curated table (one per data group) or the rejected
table with its reason. Conservation (inputs = kept + rejected, per source) is asserted before anything
is reported as done.

The work is split in two. Screening (de-identification, caption length, images, text sketches:
`lingshu.data.screen`) needs no other record, so `workers` processes do it on disjoint shards, together
with finding near-duplicate text pairs in one shared MinHash LSH (`lingshu.data.neardup`, in memory or
Redis). The decisions that depend on order — benchmark overlap, then image pHash claims, then near-duplicate
text, where the earlier record in priority order wins — are then made here in one cheap sequential pass,
so the result is the same whatever the number of workers.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lingshu.config import CurateConfig, SourceConfig, problems_of
from lingshu.data.decontam import BenchmarkIndex, Fingerprint, select_benchmarks, benchmark_items
from lingshu.data.dedup import KeptTexts, PHashIndex
from lingshu.data.images import ImageInfo, thumbnail_features
from lingshu.data.modality import ModalityClassifier
from lingshu.data.neardup import NearDupIndex, check_redis, drop_keys, new_basename
from lingshu.data.schema import ARROW_SCHEMA, REJECTED_SCHEMA, Rejected, Sample
from lingshu.data.screen import Screened, Screener
from lingshu.data.screen import count_tokens  # noqa: F401  (re-exported: lingshu.checks imports it from here)
from lingshu.data.sources import check_options, load_source
from lingshu.data.store import ImageStore
from lingshu.data.workers import run_workers, shards
from lingshu.io import replaced_folder, write_parquet

MEDICAL_IMAGE_MODALITIES = {"x-ray", "ct", "mri", "ultrasound", "nuclear", "pet", "microscopy", "histopathology",
                            "oct", "dermoscopy", "endoscopy", "fundus", "photo"}


@dataclass
class CurationResult:
    kept: dict[str, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    rejected: list[Rejected] = field(default_factory=list)
    inputs: Counter = field(default_factory=Counter)
    deid_counts: Counter = field(default_factory=Counter)
    overlaps: Counter = field(default_factory=Counter)  # (benchmark, kind) -> samples
    metrics: dict[str, Any] = field(default_factory=dict)


def coarse(kind: str) -> str:
    """An overlap's kind as the curate metrics count it: image or text (exact or near)."""
    return "text" if kind.startswith("text") else kind


def ordered_sources(cfg: CurateConfig) -> list[SourceConfig]:
    """Sources in dedup priority order: listed names first (most reliable first), then the rest as configured."""
    rank = {name: i for i, name in enumerate(cfg.source_priority)}
    return sorted(cfg.sources, key=lambda s: rank.get(s.name, len(rank)))


def redis_url(cfg: CurateConfig) -> str | None:
    """The Redis URL for `lsh_storage: redis` (None for memory), checked to answer; errors name the fields."""
    if cfg.lsh_storage == "memory":
        return None
    url = os.environ.get(cfg.redis_url_env, "")
    if not url:
        raise ValueError(f"curate.lsh_storage is 'redis' but the environment variable {cfg.redis_url_env!r} "
                         "(named by curate.redis_url_env) is not set; set it to redis://host:port/db")
    check_redis(url, f"curate.lsh_storage is 'redis' but the server in ${cfg.redis_url_env} (curate.redis_url_env)")
    return url


class Curator:
    def __init__(self, cfg: CurateConfig, repo: Path):
        self.cfg, self.repo = cfg, repo
        self.store = ImageStore(repo / cfg.image_store)
        self.phashes = PHashIndex()
        self.texts = KeptTexts()
        self.result = CurationResult()

    def run(self) -> CurationResult:
        problems = problems_of(self.cfg, "curate.")  # the load-time checks, for a config built in code
        if problems:
            raise ValueError("; ".join(problems))
        for src in self.cfg.sources:  # a misspelt option fails before any work
            check_options(src)
        benches = select_benchmarks(self.cfg.benchmarks)
        url = redis_url(self.cfg)
        self.records: list[Sample | Rejected] = []
        seen: set[str] = set()
        for src in ordered_sources(self.cfg):
            self.result.inputs[src.name] = 0  # an empty source still has its row, which the data checks fail
            for record in tqdm(load_source(src, self.repo), desc=f"load {src.name}", unit="rec", leave=False,
                               disable=None):  # bars on a terminal, silence in logs
                self.result.inputs[src.name] += 1
                if isinstance(record, Sample) and record.id in seen:
                    record = Rejected.of(record, "duplicate_id", "an earlier record of the source has this id", "load")
                seen.add(record.id)
                self.records.append(record)
        self.benchmark_items = list(benchmark_items(benches, self.repo))
        screened, fingerprints = self.screen(url)
        self.benchmarks = BenchmarkIndex.build([(item, fingerprints[k]) for k, item in enumerate(self.benchmark_items)],
                                               self.cfg.decontam_threshold, self.cfg.minhash_num_perm)
        decisions = tqdm(self.records, desc="curate: decide", unit="rec", leave=False, disable=None)
        for order, record in enumerate(decisions):
            outcome = record if isinstance(record, Rejected) else self.decide(order, record, screened[order])
            if isinstance(outcome, Rejected):
                self.result.rejected.append(outcome)
            else:
                self.result.kept[outcome.group].append(outcome)
        self.label_modalities()
        self.check_conservation()
        return self.result

    def screen(self, url: str | None) -> tuple[dict[int, Screened], dict[int, Fingerprint]]:
        """Screen all records and fingerprint the benchmarks' test items in `workers` processes; fill in the
        near-duplicate edges."""
        workers, cfg = self.cfg.workers, self.cfg
        basename = new_basename()
        bench_shards = shards(self.benchmark_items, workers)
        record_shards = shards(self.records, workers)

        def job(worker: int, barrier) -> tuple[dict[int, Screened], dict[int, Fingerprint]]:
            screener = Screener(cfg, self.store)
            bench = {k: screener.benchmark_item(self.benchmark_items[k]) for k in bench_shards[worker]}
            screened = {order: screener.record(self.records[order])
                        for order in tqdm(record_shards[worker], desc=f"curate: screen (worker {worker})", unit="rec",
                                          leave=False, position=worker, disable=None)}
            if url:  # the shared index: insert everything, wait for the others, then ask about our own texts
                index = NearDupIndex(cfg.near_dup_threshold, cfg.minhash_num_perm, url, basename)
                candidates = {order: s.text for order, s in screened.items() if s.text is not None}
                index.insert(candidates)
                barrier.wait()
                index.edges(candidates, desc=f"near-duplicate edges (worker {worker})")
            return screened, bench

        try:
            results = run_workers(job, workers)
        finally:
            if url:
                drop_keys(url, basename)
        screened = {order: s for part, _ in results for order, s in part.items()}
        fingerprints = {k: item for _, part in results for k, item in part.items()}
        if not url:
            index = NearDupIndex(cfg.near_dup_threshold, cfg.minhash_num_perm)
            candidates = {order: s.text for order, s in sorted(screened.items()) if s.text is not None}
            index.insert(candidates)
            index.edges(candidates)
        return screened, fingerprints

    def decide(self, order: int, sample: Sample, screened: Screened) -> Sample | Rejected:
        """The order-dependent steps for one screened record, in the single-process order."""
        if screened.rejected is not None:
            return screened.rejected
        if screened.conversations is not None:
            sample.conversations = screened.conversations
        infos = [info for _, info in screened.images]
        if sample.split == "train":
            rejection = self.screen_training_sample(order, sample, screened, infos)
            if rejection is not None:
                return rejection
        self.result.deid_counts.update(screened.replaced)
        sample.meta["image_sizes"] = [[i.width, i.height] for i in infos]
        sample.meta["phashes"] = [f"{i.phash:016x}" for i in infos]
        sample.meta["_features"] = [thumbnail_features(i) for i in infos]
        sample.images = [key for key, _ in screened.images]
        return sample

    def screen_training_sample(self, order: int, sample: Sample, screened: Screened,
                               infos: list[ImageInfo]) -> Rejected | None:
        overlaps = self.benchmarks.overlaps(screened.overlap, [i.phash for i in infos])
        for benchmark, kind in sorted({(o.benchmark, coarse(o.kind)) for o in overlaps}):
            self.result.overlaps[(benchmark, kind)] += 1
        if overlaps:
            first = overlaps[0]
            more = f" (+{len(overlaps) - 1} more)" if len(overlaps) > 1 else ""
            detail = f"{coarse(first.kind)} overlaps {first.item}{more}"
            if self.cfg.decontaminate == "drop":
                return Rejected.of(sample, "benchmark_overlap", detail, "decontaminate")
            sample.meta["benchmark_overlap"] = sorted({o.benchmark for o in overlaps})
        captions = sample.task == "caption"
        for info in infos:
            owner = self.phashes.claim("captions" if captions else sample.source, info.phash, info.sha256, sample.id,
                                       same_file_is_duplicate=captions)
            if owner is not None:
                return Rejected.of(sample, "duplicate_image", f"same pHash as an image of {owner}", "image_dedup")
        if screened.text is not None:
            match = self.texts.duplicate_of(screened.text)
            if match is not None:
                earlier, similarity = match
                detail = f"similarity {similarity:.2f} to {self.records[earlier].id}"
                return Rejected.of(sample, "near_duplicate_text", detail, "text_dedup")
            self.texts.keep(order, screened.text)
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
    """The curated tables and the rejected table, each folder replaced as a whole (a group table of an
    earlier run never survives beside the new ones); images nothing refers to leave the store."""
    with replaced_folder(repo / cfg.output_dir) as out:
        for group, samples in sorted(result.kept.items()):
            write_parquet(out / f"{group}.parquet", [s.to_row() for s in samples], ARROW_SCHEMA)
    with replaced_folder(repo / cfg.rejected_dir) as out:
        write_parquet(out / "rejected.parquet", [r.to_row() for r in result.rejected], REJECTED_SCHEMA)
    referenced = {key for samples in result.kept.values() for s in samples for key in s.images}
    result.metrics["images_pruned"] = store.prune(referenced)
    result.metrics["images_stored"] = len(referenced)
