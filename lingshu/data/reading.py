"""Reading and screening as Ray tasks: every record leaves its task screened, decontaminated and pickled.

A read task is one shard of one source (or of one benchmark's test items). It runs the source's loader,
which yields records lazily (their images are read only when screened), and screens the records of its
shard: records about the same image share a shard, so each image is decoded once, and the rest are
dealt round-robin. Because the task walks the source's whole record stream it also sees every id before
its own records, so a repeated id is rejected as `duplicate_id` exactly as a single pass would, and it
knows the source's record count, which conservation is checked against at the end.

A record's global `order` is (source priority rank, position in its source): the single-process order
in which earlier records win. Screening needs no other record; decontamination needs only the
benchmark index, which every task receives whole (it is small: the benchmarks' test items; a `Broadcast`,
so each worker process deserialises it once). What is
left to decide (image and text duplicates) is done by `lingshu.data.resolve`; its inputs are in `Pending`.
"""

from __future__ import annotations

import pickle
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from lingshu.config import CurateConfig
from lingshu.data.decontam import BenchmarkIndex, benchmark_items
from lingshu.data.dedup import TextCandidate
from lingshu.data.images import thumbnail_features
from lingshu.data.ray_runtime import Broadcast
from lingshu.data.schema import Rejected, Sample
from lingshu.data.screen import Screened, Screener
from lingshu.data.sources import load_source
from lingshu.data.store import ImageStore

ORDER_BITS = 40  # a source's records are numbered below 2**40; the priority rank sits above
ROWS_PER_BLOCK = 256  # rows a read task yields at a time
SCREENED = pa.schema([("order", pa.int64()), ("source", pa.string()), ("source_total", pa.int64()),
                      ("alive", pa.bool_()), ("payload", pa.binary())])


def order_of(rank: int, index: int) -> int:
    return (rank << ORDER_BITS) | index


def rank_of(order: int) -> int:
    return order >> ORDER_BITS


def shard_of(index: int, record, shards: int) -> int:
    """The shard (0..shards-1) that screens record `index`: by its first image, else round-robin."""
    images = getattr(record, "images", None)
    if images:
        return zlib.crc32(images[0].ref.encode()) % shards
    return index % shards


@dataclass
class Pending:
    """A record after screening and decontamination. Rejected records are final; a kept candidate (a `Sample`,
    images already replaced by store keys) may still lose to an image or text duplicate."""

    record: Sample | Rejected
    overlaps: list[tuple[str, str]] = field(default_factory=list)  # (benchmark, image|text) counted for metrics
    replaced: Counter = field(default_factory=Counter)  # de-identification replacements (counted when kept)
    features: list[np.ndarray] = field(default_factory=list)  # the modality classifier's, one per image
    claims: list[tuple[int, str]] = field(default_factory=list)  # (pHash, sha256) per image: training samples only
    text: TextCandidate | None = None  # the near-duplicate check's input: training samples other than captions

    @property
    def scope(self) -> str:
        """The pHash dedup scope: one shared by all captions, otherwise the sample's source."""
        return "captions" if self.record.task == "caption" else self.record.source


def coarse(kind: str) -> str:
    """An overlap's kind as the curate metrics count it: image or text (exact or near)."""
    return "text" if kind.startswith("text") else kind


def decontaminate(sample: Sample, screened: Screened, index: BenchmarkIndex, cfg: CurateConfig,
                  pending: Pending) -> Rejected | None:
    """Benchmark overlap of a screened training sample: counted, then dropped or flagged (`decontaminate`)."""
    overlaps = index.overlaps(screened.overlap, [info.phash for _, info in screened.images])
    pending.overlaps = sorted({(o.benchmark, coarse(o.kind)) for o in overlaps})
    if not overlaps:
        return None
    first = overlaps[0]
    more = f" (+{len(overlaps) - 1} more)" if len(overlaps) > 1 else ""
    detail = f"{coarse(first.kind)} overlaps {first.item}{more}"
    if cfg.decontaminate == "drop":
        return Rejected.of(sample, "benchmark_overlap", detail, "decontaminate")
    sample.meta["benchmark_overlap"] = sorted({o.benchmark for o in overlaps})
    return None


def pending_of(sample: Sample, screened: Screened, index: BenchmarkIndex, cfg: CurateConfig) -> Pending:
    """Apply screening (and, for training samples, decontamination) to a loaded sample."""
    if screened.rejected is not None:
        return Pending(screened.rejected)
    pending = Pending(sample)
    if sample.split == "train":
        rejected = decontaminate(sample, screened, index, cfg, pending)
        if rejected is not None:
            pending.record = rejected
            return pending
        infos = [info for _, info in screened.images]
        pending.claims = [(info.phash, info.sha256) for info in infos]
        pending.text = screened.text
    if screened.conversations is not None:
        sample.conversations = screened.conversations
    infos = [info for _, info in screened.images]
    pending.replaced = screened.replaced
    pending.features = [thumbnail_features(info) for info in infos]
    sample.meta["image_sizes"] = [[i.width, i.height] for i in infos]
    sample.meta["phashes"] = [f"{i.phash:016x}" for i in infos]
    sample.images = [key for key, _ in screened.images]
    return pending


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCREENED)


def read_source_shard(batch: dict, cfg: CurateConfig, repo: str,
                      index: Broadcast[BenchmarkIndex]) -> Iterator[pa.Table]:
    """map_batches UDF over read tasks (one per batch): the screened records of one shard of one source."""
    repo_path, index = Path(repo), index.get()
    screener = Screener(cfg, ImageStore(repo_path / cfg.image_store))
    for rank, shard, shards in zip(batch["rank"], batch["shard"], batch["shards"]):
        src = ordered_sources(cfg)[int(rank)]
        rows, seen, total = [], set(), 0
        for position, record in enumerate(load_source(src, repo_path)):
            total += 1
            duplicate = isinstance(record, Sample) and record.id in seen
            seen.add(record.id)
            if shard_of(position, record, int(shards)) != int(shard):
                continue
            if duplicate:
                pending = Pending(Rejected.of(record, "duplicate_id", "an earlier record of the source has this id",
                                              "load"))
            elif isinstance(record, Rejected):
                pending = Pending(record)
            else:
                pending = pending_of(record, screener.record(record), index, cfg)
            rows.append({"order": order_of(int(rank), position), "source": src.name, "source_total": None,
                         "alive": isinstance(pending.record, Sample), "payload": pickle.dumps(pending)})
            if len(rows) >= ROWS_PER_BLOCK:
                yield _table(rows)
                rows = []
        # the tally row (order -1): how many records the source has, as this shard's task counted them
        yield _table(rows + [{"order": -1, "source": src.name, "source_total": total, "alive": False,
                              "payload": pickle.dumps(int(shard))}])


def ordered_sources(cfg: CurateConfig) -> list:
    """Sources in dedup priority order: listed names first (most reliable first), then the rest as configured."""
    rank = {name: i for i, name in enumerate(cfg.source_priority)}
    return sorted(cfg.sources, key=lambda s: rank.get(s.name, len(rank)))


def fingerprint_benchmark_shard(batch: dict, cfg: CurateConfig, repo: str, benches: list) -> Iterator[pa.Table]:
    """map_batches UDF over benchmark read tasks: (position, pickled (item without images, fingerprint))."""
    import lingshu.eval.loaders  # noqa: F401  (registers the loaders in this worker process)

    screener = Screener(cfg, None)
    for shard, shards in zip(batch["shard"], batch["shards"]):
        rows = []
        for position, item in enumerate(benchmark_items(benches, Path(repo))):
            if shard_of(position, item, int(shards)) == int(shard):
                fingerprint = screener.benchmark_item(item)
                item.images = []  # lazy readers stay behind; matching needs the fingerprint only
                rows.append({"position": position, "payload": pickle.dumps((item, fingerprint))})
        yield pa.Table.from_pylist(rows, schema=pa.schema([("position", pa.int64()), ("payload", pa.binary())]))
