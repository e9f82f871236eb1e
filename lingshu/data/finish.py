"""The last step of curation on Ray: decisions applied, modalities labelled, sharded Parquet written, counts summed.

Every record gets its final outcome in a `map_batches` (the decisions and the fitted modality classifier are
broadcast to it): plain tasks on CPUs, classifier actors when the classifier gets GPUs (`num_gpus` per actor
from params). Then a group-by on the file a row belongs to writes each shard: `<output_dir>/<group>/part-<rank>-<chunk>.parquet` for kept rows
and `<rejected_dir>/part-<rank>-<chunk>.parquet` for rejected ones, rows in (source priority, record) order,
so the files are the same whatever the cluster. A shard holds the records of one source at positions
chunk*rows_per_file .. (chunk+1)*rows_per_file-1. Each writer returns the counts of what it wrote; the
driver adds them up and never sees a row.
"""

from __future__ import annotations

import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingshu.config import CurateConfig
from lingshu.data.modality import ModalityClassifier
from lingshu.data.ray_runtime import Broadcast
from lingshu.data.reading import ORDER_BITS, Pending, rank_of
from lingshu.data.resolve import Decision, apply_decision
from lingshu.data.schema import ARROW_SCHEMA, REJECTED_SCHEMA, Rejected, Sample
from lingshu.io import atomic_write_bytes

MEDICAL_IMAGE_MODALITIES = {"x-ray", "ct", "mri", "ultrasound", "nuclear", "pet", "microscopy", "histopathology",
                            "oct", "dermoscopy", "endoscopy", "fundus", "photo"}
FINAL = pa.schema([("file", pa.string()), ("order", pa.int64()), ("data", pa.binary())])
LABELLED = pa.schema([("order", pa.int64()), ("position", pa.int64()), ("key", pa.string()), ("modality", pa.string()),
                      ("features", pa.binary())])
SUMMARY = pa.schema([("summary", pa.binary())])
MAX_FIT_IMAGES = 5_000  # the modality classifier is fitted on at most this many distinct images (`FitSample`)
WRITE_CHUNK = 1024  # records converted to Arrow at a time when a shard is written
TALLY = "tally"  # the file key of the rows that carry a source's record count


class FitSample:
    """The classifier's training set, gathered on the driver from a stream of `labelled_images` batches: each
    distinct image labelled by its first kept sample (least (order, position)), at most `size` images, those
    whose store keys (sha256 hex) sort first. Memory is bounded by 2 x size whatever the corpus, and the
    choice depends neither on the order the batches arrive in nor on how many tasks made them."""

    def __init__(self, size: int):
        self.size = size
        self.first: dict[str, tuple[int, int, str, bytes]] = {}  # key -> (order, position, modality, features)
        self.cutoff: str | None = None  # keys from this one up are out of the sample for good

    def offer(self, order: int, position: int, key: str, modality: str, features: bytes) -> None:
        """One labelled image of a kept sample (a `LABELLED` row)."""
        if self.cutoff is not None and key >= self.cutoff:
            return
        seen = self.first.get(key)
        if seen is None or (order, position) < seen[:2]:
            self.first[key] = (order, position, modality, features)
            if len(self.first) > 2 * self.size:
                self.trim()

    def add(self, batch: pa.Table) -> None:
        for row in zip(*(batch[c].to_pylist() for c in LABELLED.names)):
            self.offer(*row)

    def trim(self) -> None:
        keys = sorted(self.first)
        if len(keys) > self.size:
            self.cutoff = keys[self.size]
            for key in keys[self.size:]:
                del self.first[key]

    def table(self) -> pa.Table:
        """The sample as `LABELLED` rows."""
        self.trim()
        return pa.Table.from_pylist([dict(zip(LABELLED.names, (order, position, key, modality, features)))
                                     for key, (order, position, modality, features) in self.first.items()],
                                    schema=LABELLED)

    def features_and_labels(self) -> tuple[np.ndarray, list[str]]:
        """The sample in (order, position) order: the order a single pass over the corpus meets the images."""
        self.trim()
        chosen = sorted(self.first.values())
        if not chosen:
            return np.zeros((0, 1)), []
        return np.stack([np.frombuffer(f, dtype=np.float32) for *_, f in chosen]), [m for _, _, m, _ in chosen]


def labelled_images(batch: pa.Table, lost: Broadcast[dict[int, Decision]]) -> pa.Table:
    """map_batches UDF: (order, position, store key, modality, features) of the images of kept samples whose
    modality comes from metadata: the classifier's training set, already narrowed to this batch's `FitSample`
    (an image in the corpus-wide sample is in the sample of every batch that holds it, with its first row),
    so the driver receives at most `MAX_FIT_IMAGES` rows per batch."""
    narrowed, lost = FitSample(MAX_FIT_IMAGES), lost.get()
    for order, payload, alive in zip(batch["order"].to_pylist(), batch["payload"].to_pylist(),
                                     batch["alive"].to_pylist()):
        if not alive or order in lost:
            continue
        pending: Pending = pickle.loads(payload)
        sample = pending.record
        if sample.modality in MEDICAL_IMAGE_MODALITIES and sample.modality_source == "metadata":
            for position, (key, features) in enumerate(zip(sample.images, pending.features)):
                narrowed.offer(order, position, key, sample.modality, features.astype(np.float32).tobytes())
    return narrowed.table()


def fit_classifier(cfg: CurateConfig, labelled: Iterable[pa.Table]) -> ModalityClassifier:
    """The classifier fitted on a sample of the distinct labelled images (`FitSample`)."""
    sample = FitSample(MAX_FIT_IMAGES)
    for batch in labelled:
        sample.add(batch)
    classifier = ModalityClassifier(cfg.modality)
    classifier.fit(*sample.features_and_labels())
    return classifier


def file_of(order: int, record, rows_per_file: int) -> str:
    """The shard a final record is written to: its group's (kept) or the rejected table's, by source and position."""
    chunk = (order & ((1 << ORDER_BITS) - 1)) // rows_per_file
    name = f"part-{rank_of(order):03d}-{chunk:05d}.parquet"
    return f"curated/{record.group}/{name}" if isinstance(record, Sample) else f"rejected/{name}"


def finish_batch(batch: pa.Table, lost: Broadcast[dict[int, Decision]], classifier: Broadcast[ModalityClassifier],
                 rows_per_file: int) -> pa.Table:
    """map_batches UDF: each row's outcome (kept `Sample` with its modality, or `Rejected`) and its file."""
    lost, classifier = lost.get(), classifier.get()
    orders, payloads = batch["order"].to_pylist(), batch["payload"].to_pylist()
    records, rows = [], []
    for order, payload, source, total in zip(orders, payloads, batch["source"].to_pylist(),
                                             batch["source_total"].to_pylist()):
        if order < 0:  # a source's tally
            rows.append({"file": TALLY, "order": order, "data": pickle.dumps((source, pickle.loads(payload), total))})
            continue
        pending: Pending = pickle.loads(payload)
        pending.record = apply_decision(pending, lost.get(order))
        records.append((order, pending))
    todo = [p for _, p in records if isinstance(p.record, Sample) and p.record.images and p.record.modality is None]
    predictions = classifier.predict(np.stack([p.features[0] for p in todo])) if todo else []
    for pending, (label, confidence) in zip(todo, predictions):
        pending.record.modality, pending.record.modality_source = label, "classifier"
        pending.record.meta["modality_confidence"] = round(confidence, 4)
    labelled_ids = {id(p) for p in todo}
    for order, pending in records:
        labelled = id(pending) in labelled_ids
        rows.append({"file": file_of(order, pending.record, rows_per_file), "order": order,
                     "data": pickle.dumps((pending.record, pending.replaced, pending.overlaps, labelled))})
    return pa.Table.from_pylist(rows, schema=FINAL)


class Finisher:
    """map_batches actor doing `finish_batch`, for a classifier on GPUs (`curate.ray.classifier_num_gpus`): the
    actor holds its device and model between batches. On CPUs plain tasks do the same work without an actor
    pool's start-up (a process of its own that imports everything again, and Ray Data's actor bookkeeping)."""

    def __init__(self, lost: Broadcast[dict[int, Decision]], classifier: Broadcast[ModalityClassifier],
                 rows_per_file: int):
        self.lost, self.classifier, self.rows_per_file = lost, classifier, rows_per_file

    def __call__(self, batch: pa.Table) -> pa.Table:
        return finish_batch(batch, self.lost, self.classifier, self.rows_per_file)


@dataclass
class Counts:
    """What the curated and rejected tables hold, counted as they are written."""

    inputs: Counter = field(default_factory=Counter)  # source -> records its loader yielded
    tallies: dict = field(default_factory=dict)  # (source, shard) -> the source's records, as that shard counted
    kept: Counter = field(default_factory=Counter)  # source -> kept
    kept_train: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)  # source -> rejected
    kept_by_group: Counter = field(default_factory=Counter)
    rejected_by_reason: Counter = field(default_factory=Counter)
    dropped_by_first_benchmark: Counter = field(default_factory=Counter)
    distribution: Counter = field(default_factory=Counter)  # (group, modality) of kept training samples
    deid: Counter = field(default_factory=Counter)  # de-identification replacements in kept samples
    overlaps: Counter = field(default_factory=Counter)  # (benchmark, image|text) -> training samples
    labelled_by_classifier: int = 0
    images: set = field(default_factory=set)  # store keys the kept samples refer to (the driver sums into a KeySet)
    files: list = field(default_factory=list)

    def add(self, other: "Counts") -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, Counter):
                mine.update(value)
            elif isinstance(value, (set, dict)):
                mine |= value
            elif isinstance(value, list):
                mine += value
            else:
                setattr(self, name, mine + value)


def count_record(counts: Counts, final: tuple) -> Sample | Rejected:
    """Add a final record (as `finish_batch` pickled it) to the counts; returns the record."""
    record, replaced, overlaps, labelled = final
    counts.overlaps.update(overlaps)
    if isinstance(record, Sample):
        counts.kept[record.source] += 1
        counts.kept_train[record.source] += record.split == "train"
        counts.kept_by_group[record.group] += 1
        if record.split == "train":
            counts.distribution[(record.group, record.modality or "unknown")] += 1
        counts.deid.update(replaced)
        counts.labelled_by_classifier += labelled
        counts.images.update(record.images)
    else:
        counts.rejected[record.source] += 1
        counts.rejected_by_reason[record.reason] += 1
        if record.reason == "benchmark_overlap":
            counts.dropped_by_first_benchmark[record.detail.split(" overlaps ", 1)[1].split(":", 1)[0]] += 1
    return record


def write_file(group: pa.Table, dirs: dict[str, str]) -> pa.Table:
    """map_groups UDF: write one shard (its rows in order) and return its counts. Records are unpickled and
    converted to Arrow `WRITE_CHUNK` at a time, so a shard's Python objects never exist all at once."""
    counts = Counts()
    file = group["file"][0].as_py()
    in_order = pc.sort_indices(group["order"])  # positions, not a sorted copy of the shard's data
    if file == TALLY:
        for data in group["data"].take(in_order).to_pylist():
            source, shard, total = pickle.loads(data)
            counts.tallies[(source, shard)] = total
        return pa.Table.from_pylist([{"summary": pickle.dumps(counts)}], schema=SUMMARY)
    kind, name = file.split("/", 1)
    schema = ARROW_SCHEMA if kind == "curated" else REJECTED_SCHEMA
    chunks = [pa.Table.from_pylist([count_record(counts, pickle.loads(data)).to_row() for data in
                                    group["data"].take(in_order[start:start + WRITE_CHUNK]).to_pylist()], schema=schema)
              for start in range(0, group.num_rows, WRITE_CHUNK)]
    buffer = pa.BufferOutputStream()
    table = pa.concat_tables(chunks).combine_chunks() if chunks else schema.empty_table()  # one chunk: the bytes
    pq.write_table(table, buffer)                                                          # of one write
    atomic_write_bytes(Path(dirs[kind]) / name, memoryview(buffer.getvalue()))
    counts.files.append(file)
    return pa.Table.from_pylist([{"summary": pickle.dumps(counts)}], schema=SUMMARY)
