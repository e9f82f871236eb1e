"""PNG charts for the evaluation report: scores by training stage, and each variant's change vs a baseline.

A table answers "how much"; a reader of an ablation first asks "does every benchmark move the same way
across stages?" and "which changes are bigger than the noise?", and both are quicker to see. Figures
are drawn on a private Agg canvas (no pyplot state, no display needed), rendered to bytes and written
atomically, so a killed stage never leaves a half-written PNG behind for DVC to hash.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from lingshu.io import atomic_write_bytes
from lingshu.report.compare import Comparison

SIGNIFICANT_HATCH = "///"


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _write_png(figure: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _progression_panel(axes, checkpoints: list[str], series: Mapping[str, Mapping[str, Mapping[str, float]]],
                       keys: tuple[str, str, str]) -> None:
    """Lines per benchmark across checkpoints with a shaded interval; `series`: checkpoint -> benchmark -> values."""
    benchmarks = list(dict.fromkeys(name for per_checkpoint in series.values() for name in per_checkpoint))
    positions = np.arange(len(checkpoints))
    for index, benchmark in enumerate(benchmarks):
        def values(key: str) -> list[float]:
            return [series[c][benchmark][key] if benchmark in series.get(c, {}) else np.nan for c in checkpoints]

        color = f"C{index % 10}"
        axes.plot(positions, values(keys[0]), marker="o", color=color, label=benchmark)
        axes.fill_between(positions, values(keys[1]), values(keys[2]), color=color, alpha=0.15, linewidth=0)
    axes.set_xticks(positions, checkpoints)
    axes.set_xlabel("checkpoint (training stage)")
    axes.grid(axis="y", alpha=0.3)


def image_gaps(scores: Mapping[str, Mapping[str, Mapping]], control: str = "blank_image") -> dict[str, dict[str, dict]]:
    """checkpoint -> benchmark -> {delta, ci_low, ci_high} of real − `control`, for benchmarks that ran it."""
    return {checkpoint: {name: result["controls"][control]["real_minus_control"]
                         for name, result in per_checkpoint.items() if control in result.get("controls", {})}
            for checkpoint, per_checkpoint in scores.items()}


def progression_chart(scores: Mapping[str, Mapping[str, Mapping[str, float]]], path: str | Path) -> Path:
    """One line per benchmark across checkpoints (in the order given), shaded with its 95% CI; beside it,
    where benchmarks ran the blank-image control, real − blank per checkpoint with its paired CI.

    `scores`: checkpoint -> benchmark -> {score, ci_low, ci_high[, controls]}, the "benchmarks" part of
    metrics/eval/<checkpoint>.json; a benchmark missing at a checkpoint leaves a gap.
    """
    if not scores:
        raise ValueError("no checkpoints to chart")
    checkpoints = list(scores)
    gaps = image_gaps(scores)
    with_gaps = any(gaps.values())
    figure = _new_figure(width=max(6.0, 1.3 * len(checkpoints) + 3) * (1.8 if with_gaps else 1), height=5.0)
    axes = figure.add_subplot(1, 2 if with_gaps else 1, 1)
    _progression_panel(axes, checkpoints, scores, ("score", "ci_low", "ci_high"))
    axes.set_ylabel("score (%)")
    axes.set_title("Benchmark scores by training stage (shaded: 95% bootstrap CI)")
    axes.legend(loc="best", fontsize="small", frameon=False)
    if with_gaps:
        right = figure.add_subplot(1, 2, 2)
        _progression_panel(right, checkpoints, gaps, ("delta", "ci_low", "ci_high"))
        right.axhline(0, color="black", linewidth=1)
        right.set_ylabel("real − blank image (percentage points)")
        right.set_title("Does the model use the image? (shaded: 95% paired CI)")
        right.legend(loc="best", fontsize="small", frameon=False)
    return _write_png(figure, path)


def delta_chart(comparison: Comparison, path: str | Path) -> Path:
    """Horizontal bars of each variant's delta per benchmark (then per group), CI error bars, 0 marked.

    Bars whose interval excludes 0 are hatched and labelled `*`.
    """
    variants = comparison.variants
    if not variants:
        raise ValueError("nothing to chart: the comparison has only the baseline")
    blocks = ([(name, result.deltas) for name, result in comparison.benchmarks.items()]
              + [(f"{name} (avg)", result.deltas) for name, result in comparison.groups.items()])
    bar_height = 0.8 / len(variants)
    figure = _new_figure(width=8.0, height=max(3.0, 0.35 * len(blocks) * len(variants) + 1.8))
    axes = figure.add_subplot()
    for slot, variant in enumerate(variants):
        deltas = [per_variant[variant] for _, per_variant in blocks]
        offsets = np.arange(len(blocks)) + (slot - (len(variants) - 1) / 2) * bar_height
        errors = [[d.delta - d.ci_low for d in deltas], [d.ci_high - d.delta for d in deltas]]
        bars = axes.barh(offsets, [d.delta for d in deltas], height=bar_height, xerr=errors, capsize=3,
                         color=f"C{slot % 10}", edgecolor="black", linewidth=0.5, label=variant)
        axes.scatter([d.delta for d in deltas], offsets, color=f"C{slot % 10}", edgecolor="black", s=18,
                     zorder=3)  # keeps a delta of exactly 0 visible: its bar has no width
        for bar, offset, delta in zip(bars, offsets, deltas):
            if delta.significant:
                bar.set_hatch(SIGNIFICANT_HATCH)
                right = delta.delta >= 0
                axes.annotate("*", (delta.ci_high if right else delta.ci_low, offset), xytext=(4 if right else -4, 0),
                              textcoords="offset points", ha="left" if right else "right", va="center",
                              fontsize=12, fontweight="bold")
    axes.set_yticks(np.arange(len(blocks)), [label for label, _ in blocks])
    axes.invert_yaxis()
    if comparison.groups:
        axes.axhline(len(comparison.benchmarks) - 0.5, color="grey", linestyle=":", linewidth=1)
    axes.axvline(0, color="black", linewidth=1)
    axes.margins(x=0.1)
    axes.set_xlabel(f"change vs {comparison.baseline} (percentage points)")
    axes.set_title(f"Change vs {comparison.baseline} ({comparison.level:.0%} {comparison.method})", fontsize="medium")
    handles = [Patch(facecolor=f"C{slot % 10}", edgecolor="black", label=variant)
               for slot, variant in enumerate(variants)]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch=SIGNIFICANT_HATCH, label="* CI excludes 0"))
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), frameon=False)
    return _write_png(figure, path)
