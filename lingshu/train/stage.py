"""One supervised stage (shallow, deep or instruct) as a library call: train, save, measure, report.

`stages/train.py` is only its argument parser. Under a multi-process launch (Lightning's, srun,
torchrun) every rank trains and only global rank 0 opens the MLflow run and writes metrics (ranks.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lingshu.checkpoints import checkpoint_path, relative_checkpoint
from lingshu.io import atomic_write_json
from lingshu.ranks import is_global_zero
from lingshu.tracking import lightning_logger, log_stage_metrics, stage_run


def run_training_stage(name: str, train, tracking, repo: Path) -> dict[str, float]:
    """Train `train.<name>` from its `init_from`, save it, write its held-out metrics and loss curve;
    returns the metrics (empty on ranks other than 0)."""
    from lingshu.model.factory import load_model
    from lingshu.train.heldout import measure_heldout
    from lingshu.train.run import fit_stage

    stage, output = getattr(train, name), checkpoint_path(repo, name)
    if not is_global_zero():  # another process of a multi-process launch: train, then leave the reporting to rank 0
        fit_stage(train.common, stage, repo, output, progress=False)
        return {}
    inputs = [relative_checkpoint(stage.init_from), train.common.data_dir, train.common.synthetic_dir]
    with stage_run(f"train_{name}", {"common": train.common, name: stage}, tracking, inputs) as run:
        module, data, curve = fit_stage(train.common, stage, repo, output, logger=lightning_logger(run, tracking),
                                        progress=sys.stderr.isatty())
        metrics = {f"data/{k}": float(v) for k, v in data.stats.items()}
        metrics["train/steps"] = float(len(curve.rows))
        metrics["train/final_loss"] = curve.rows[-1]["loss"] if curve.rows else float("nan")
        metrics |= {f"trainable_params/{m}": float(n) for m, n in module.trainable_counts.items()}
        saved = load_model(output)  # what the next stage gets (and whole even under ZeRO-3)
        metrics |= measure_heldout(saved, data.processor, train.common, repo, vqa=stage.evaluate_vqa)
        atomic_write_json(repo / stage.metrics_file, metrics)
        curve.write(repo / stage.plots_file)
        log_stage_metrics(metrics, plots=[repo / stage.plots_file])
    return metrics
