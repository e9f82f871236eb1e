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
    seeds: int = doc(1, "Training seeds per system for `lingshu ablate` (its --seeds default). With 2 or more, every "
                        "delta's interval counts seed variance as well as question sampling.")
    seed_params: list[str] = doc(["train.common.seed", "rl.seed"],
                                 "Dotted params keys a seed replicate changes: replicate k sets each to its value + k "
                                 "(training order, dropout and data order; RL sampling). model.seed stays: every "
                                 "replicate starts from the same base model, as a recipe starts from one pretrained "
                                 "checkpoint.")
    noise_floor: str = doc("metrics/noise_floor.json", "Seed-to-seed spread of the full model's scores (written by "
                                                       "`lingshu ablate --noise-floor N`); shown beside single-seed "
                                                       "comparisons when present (empty: never).")
    summary_file: str = doc("reports/summary.md", "Markdown report.")
    metrics_file: str = doc("metrics/report.json", "Deltas with CIs, as DVC metrics.")
    plots_dir: str = doc("plots/report", "progression.png, deltas.png and comparison.csv.")
