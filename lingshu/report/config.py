"""Parameters of the `report` stage: which checkpoints it shows, which one the others are compared with."""

from __future__ import annotations

from dataclasses import dataclass

from lingshu.checkpoints import CHAIN
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

    def problems(self) -> list[str]:
        """Checkpoints must be stages of the chain, in its order; the compared ones must be among them."""
        out = []
        unknown = [c for c in self.checkpoints if c not in CHAIN]
        if unknown or len(set(self.checkpoints)) != len(self.checkpoints):
            out.append(f"checkpoints {self.checkpoints}: each must be one of {', '.join(CHAIN)}, once")
        elif list(self.checkpoints) != sorted(self.checkpoints, key=CHAIN.index):
            out.append(f"checkpoints {self.checkpoints} must be in pipeline order ({', '.join(CHAIN)})")
        missing = [c for c in [self.baseline, *self.compare] if c not in self.checkpoints]
        if missing:
            out.append(f"baseline and compare must be among checkpoints; {missing} are not")
        if self.seeds < 1 or self.resamples < 1:
            out.append(f"seeds ({self.seeds}) and resamples ({self.resamples}) must be at least 1")
        return out
