"""Contamination audit: which test items of each benchmark any model's training data contains.

Curation keeps benchmark items out of the data it writes; a published model's training set was curated
by someone else. The audit takes any training data (lingshu.data.training_records) and, per benchmark,
lists the test items whose image (same pHash) or question (equal after normalisation, or MinHash-similar
above the threshold) appears in it, by kind, with example training records for each. It fingerprints
and matches exactly as curation's decontamination does (screen.Screener, decontam.BenchmarkIndex, the
curate section's threshold, permutations and JPEG decoding), so a clean audit of data/curated is the
check that curation did its job. The file it writes is what `lingshu eval --exclude` reads to score the
clean subset of each benchmark beside the full one.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from lingshu.data.decontam import KINDS, BenchmarkIndex, benchmark_items
from lingshu.data.screen import Screener
from lingshu.data.training_records import TrainingData

EXAMPLES = 3  # training records named per overlapped test item
FORMAT = "lingshu-audit/1"  # what --exclude checks it is reading


@dataclass
class AuditResult:
    index: BenchmarkIndex
    order: dict[str, list[str]]  # benchmark -> item ids in file order
    hits: dict[str, dict[str, dict[str, list[str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))  # bench -> kind -> item -> records
    records: int = 0
    images: int = 0
    unreadable_images: int = 0
    records_by_kind: Counter = field(default_factory=Counter)  # (benchmark, kind) -> training records
    records_by_benchmark: Counter = field(default_factory=Counter)  # benchmark -> training records overlapping it


def audit(data: TrainingData, benches: list, curate_cfg, repo: Path) -> AuditResult:
    """Match every training record of `data` against the test items of `benches` (read from `repo`)."""
    screener = Screener(replace(curate_cfg, min_image_side=1), store=None)  # every image is hashed, none stored
    items = list(benchmark_items(benches, repo))
    index = BenchmarkIndex.build([(item, screener.benchmark_item(item)) for item in items],
                                 curate_cfg.decontam_threshold, curate_cfg.minhash_num_perm)
    order: dict[str, list[str]] = defaultdict(list)
    for item in items:
        order[item.benchmark].append(item.id)
    result = AuditResult(index, dict(order))
    for record in data.records(repo):
        fingerprint, unreadable = screener.fingerprint(record.text, record.images)
        result.records += 1
        result.images += len(record.images)
        result.unreadable_images += unreadable
        overlaps = index.overlaps(fingerprint.text if record.text else None, fingerprint.phashes)
        for benchmark, kind in {(o.benchmark, o.kind) for o in overlaps}:
            result.records_by_kind[(benchmark, kind)] += 1
        result.records_by_benchmark.update({o.benchmark for o in overlaps})
        for o in overlaps:
            result.hits[o.benchmark][o.kind][o.item_id].append(record.id)
    return result


def report(result: AuditResult, data: TrainingData, benches: list, curate_cfg, repo: Path) -> dict:
    """The audit as the JSON written out: settings, what was read, and per benchmark the overlapped items."""
    out = {"format": FORMAT,
           "train": {"path": str(data.path), "kind": data.kind, "records": result.records, "images": result.images,
                     "unreadable_images": result.unreadable_images, "not_read": dict(sorted(data.skipped.items()))},
           "matching": {"decontam_threshold": curate_cfg.decontam_threshold,
                        "minhash_num_perm": curate_cfg.minhash_num_perm, "jpeg_draft": curate_cfg.jpeg_draft},
           "benchmarks": {}}
    for bench in benches:
        order = result.order.get(bench.name, [])
        hits = result.hits.get(bench.name, {})
        by_kind = {kind: [i for i in order if i in hits.get(kind, {})] for kind in KINDS}
        overlapped = [i for i in order if any(i in hits.get(kind, {}) for kind in KINDS)]
        examples = {i: sorted({r for kind in KINDS for r in hits.get(kind, {}).get(i, [])})[:EXAMPLES]
                    for i in overlapped}
        out["benchmarks"][bench.name] = {
            "data": str(bench.data(repo).resolve()), "split": bench.split, "version": bench.version,
            "items": len(order), "items_without_images": result.index.without_images[bench.name],
            "overlapped": len(overlapped), "training_records": result.records_by_benchmark[bench.name],
            "by_kind": {kind: {"items": len(ids), "training_records": result.records_by_kind[(bench.name, kind)]}
                        for kind, ids in by_kind.items()},
            "ids": overlapped, "ids_by_kind": by_kind, "examples": examples}
    return out


def exclusions(path: Path) -> dict[str, dict]:
    """Benchmark -> {ids, data, version} from an audit file, for `lingshu eval --exclude`; errors name the file."""
    try:
        audit_file = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--exclude {path}: not a readable audit file ({exc})") from None
    found = audit_file.get("format") if isinstance(audit_file, dict) else None
    if found != FORMAT:
        raise ValueError(f"--exclude {path}: field 'format' is {found!r}, not {FORMAT!r}: write it with `lingshu audit`")
    return {name: {"ids": set(entry["ids"]), "data": entry["data"], "version": entry["version"]}
            for name, entry in audit_file["benchmarks"].items()}
