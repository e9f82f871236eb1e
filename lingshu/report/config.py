"""Parameters of the `report` stage: which checkpoints it shows, which one the others are compared with."""

from __future__ import annotations

from dataclasses import dataclass

from lingshu.fields import doc


@dataclass
class ReportConfig:
    """The pipeline's report: stage progression over checkpoints and paired comparisons with a baseline."""

    checkpoints: list[str] = doc(["base", "shallow", "deep", "instruct", "rl"],
                                 "Checkpoints in pipeline order (each evaluated by evaluate@<name>).")
    baseline: str = doc("instruct", "The checkpoint the others in `compare` are measured against (paper: SFT).")
    compare: list[str] = doc(["rl"], "Checkpoints compared with the baseline question by question.")
    resamples: int = doc(2000, "Bootstrap resamples of the paired deltas.")
    seed: int = doc(0, "Seed of the bootstrap (a rerun prints the same intervals).")
    summary_file: str = doc("reports/summary.md", "Markdown report.")
    metrics_file: str = doc("metrics/report.json", "Deltas with CIs, as DVC metrics.")
    plots_dir: str = doc("plots/report", "progression.png, deltas.png and comparison.csv.")
