"""What the curate stage reports: metrics (conservation, reasons, overlaps) and distribution plots.

The metrics file is the DVC metric of the stage and is logged to MLflow; the group/modality table is a
DVC plot (CSV) and the same numbers are drawn as a PNG for people who would rather look than read.
`curate_and_report` is the whole stage but its tracking: the DVC stage and `lingshu check-data --curate`
both call it, so the two entry points write the same files.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lingshu.data.curate import CurationResult, Curator
from lingshu.data.finish import Counts
from lingshu.io import atomic_write_json


def curate_and_report(cfg, repo: Path) -> tuple[dict[str, Any], list[Path]]:
    """Curate every source, write the curated and rejected tables, the image store, the metrics file and
    the plots; returns the metrics and the plot files."""
    result = Curator(cfg, repo).run()
    metrics = build_metrics(result)
    atomic_write_json(repo / cfg.metrics_file, metrics)
    return metrics, write_plots(result.counts, repo / cfg.plots_dir)


def build_metrics(result: CurationResult) -> dict[str, Any]:
    counts, benchmarks = result.counts, result.benchmarks
    per_source = {
        name: {"inputs": n, "kept": counts.kept[name], "rejected": counts.rejected[name],
               "kept_train": counts.kept_train[name]}
        for name, n in sorted(counts.inputs.items())
    }
    overlaps: dict[str, dict[str, int]] = {}
    for (benchmark, kind), n in sorted(counts.overlaps.items()):
        overlaps.setdefault(benchmark, {})[kind] = n
    return {
        "inputs": sum(counts.inputs.values()),
        "kept": sum(counts.kept.values()),
        "rejected": sum(counts.rejected.values()),
        "conservation_ok": all(v["inputs"] == v["kept"] + v["rejected"] for v in per_source.values()),
        "per_source": per_source,
        "rejected_by_reason": dict(sorted(counts.rejected_by_reason.items())),
        "kept_by_group": dict(sorted(counts.kept_by_group.items())),
        "decontamination": {
            "benchmark_test_items": dict(sorted(benchmarks.sizes.items())),
            # items whose images were not found (matched on their text only), by benchmark; {} when all were
            "test_items_without_images": {b: n for b, n in sorted(benchmarks.without_images.items()) if n},
            "overlapping_training_samples": overlaps,
            "dropped_by_first_benchmark": dict(sorted(counts.dropped_by_first_benchmark.items())),
        },
        "deidentification": dict(sorted(counts.deid.items())),
        **result.metrics,
    }


def distribution_rows(counts: Counts) -> list[dict[str, Any]]:
    return [{"group": g, "modality": m, "samples": n} for (g, m), n in sorted(counts.distribution.items())]


def write_plots(counts: Counts, plots_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    rows = distribution_rows(counts)
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
    reasons = dict(sorted(counts.rejected_by_reason.items()))
    right.barh(list(reasons), list(reasons.values()), color="#C44E52")
    right.set_title("Rejected samples by reason")
    right.set_xlabel("samples")
    fig.tight_layout()
    image = plots_dir / "distribution.png"
    fig.savefig(image, dpi=100)
    plt.close(fig)
    return [table, image]
