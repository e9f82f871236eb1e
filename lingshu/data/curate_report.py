"""What the curate stage reports: metrics (conservation, reasons, overlaps) and distribution plots.

The metrics file is the DVC metric of the stage and is logged to MLflow; the group/modality table is a
DVC plot (CSV) and the same numbers are drawn as a PNG for people who would rather look than read.
`curate_and_report` is the whole stage but its tracking: the DVC stage and `lingshu check-data --curate`
both call it, so the two entry points write the same files.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from lingshu.data.curate import CurationResult, Curator, write_outputs
from lingshu.data.decontam import BenchmarkIndex
from lingshu.io import atomic_write_json


def curate_and_report(cfg, repo: Path) -> tuple[dict[str, Any], list[Path]]:
    """Curate every source, write the curated and rejected tables, the image store, the metrics file and
    the plots; returns the metrics and the plot files."""
    curator = Curator(cfg, repo)
    result = curator.run()
    write_outputs(result, cfg, repo, curator.store)
    metrics = build_metrics(result, curator.benchmarks)
    atomic_write_json(repo / cfg.metrics_file, metrics)
    return metrics, write_plots(result, repo / cfg.plots_dir)


def build_metrics(result: CurationResult, benchmarks: BenchmarkIndex) -> dict[str, Any]:
    kept = Counter(s.source for g in result.kept.values() for s in g)
    rejected = Counter(r.source for r in result.rejected)
    per_source = {
        name: {"inputs": n, "kept": kept[name], "rejected": rejected[name],
               "kept_train": sum(1 for g in result.kept.values() for s in g if s.source == name and s.split == "train")}
        for name, n in sorted(result.inputs.items())
    }
    overlaps: dict[str, dict[str, int]] = {}
    for (benchmark, kind), n in sorted(result.overlaps.items()):
        overlaps.setdefault(benchmark, {})[kind] = n
    by_overlap_bench = Counter(r.detail.split(" overlaps ", 1)[1].split(":", 1)[0]
                               for r in result.rejected if r.reason == "benchmark_overlap")
    return {
        "inputs": sum(result.inputs.values()),
        "kept": sum(kept.values()),
        "rejected": len(result.rejected),
        "conservation_ok": all(v["inputs"] == v["kept"] + v["rejected"] for v in per_source.values()),
        "per_source": per_source,
        "rejected_by_reason": dict(sorted(Counter(r.reason for r in result.rejected).items())),
        "kept_by_group": {g: len(s) for g, s in sorted(result.kept.items())},
        "decontamination": {
            "benchmark_test_items": dict(sorted(benchmarks.sizes.items())),
            # items whose images were not found (matched on their text only), by benchmark; {} when all were
            "test_items_without_images": {b: n for b, n in sorted(benchmarks.without_images.items()) if n},
            "overlapping_training_samples": overlaps,
            "dropped_by_first_benchmark": dict(sorted(by_overlap_bench.items())),
        },
        "deidentification": dict(sorted(result.deid_counts.items())),
        **result.metrics,
    }


def distribution_rows(result: CurationResult) -> list[dict[str, Any]]:
    counts = Counter((s.group, s.modality or "unknown") for g in result.kept.values() for s in g if s.split == "train")
    return [{"group": g, "modality": m, "samples": n} for (g, m), n in sorted(counts.items())]


def write_plots(result: CurationResult, plots_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    rows = distribution_rows(result)
    table = plots_dir / "distribution.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["group", "modality", "samples"])
        writer.writeheader()
        writer.writerows(rows)
    groups = sorted({r["group"] for r in rows})
    modalities = sorted({r["modality"] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bottom = [0] * len(groups)
    for modality in modalities:
        heights = [sum(r["samples"] for r in rows if r["group"] == g and r["modality"] == modality) for g in groups]
        left.barh(groups, heights, left=bottom, label=modality)
        bottom = [b + h for b, h in zip(bottom, heights)]
    left.set_title("Kept training samples by group and modality")
    left.set_xlabel("samples")
    left.legend(fontsize=7, ncol=2)
    reasons = Counter(r.reason for r in result.rejected)
    right.barh(list(reasons), list(reasons.values()), color="#C44E52")
    right.set_title("Rejected samples by reason")
    right.set_xlabel("samples")
    fig.tight_layout()
    image = plots_dir / "distribution.png"
    fig.savefig(image, dpi=100)
    plt.close(fig)
    return [table, image]
