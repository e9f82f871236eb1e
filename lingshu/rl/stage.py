"""The `rl` stage as a library call: select prompts, run GRPO, save, measure, report.

`stages/rl.py` is only its argument parser. Under a multi-process launch every rank trains and only
global rank 0 opens the MLflow run and writes metrics.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lingshu.checkpoints import checkpoint_path, relative_checkpoint
from lingshu.io import atomic_write_csv, atomic_write_json
from lingshu.ranks import is_global_zero
from lingshu.tracking import lightning_logger, log_stage_metrics, stage_run


def reward_summary(history: list[dict], reward_funcs: list[str]) -> dict[str, float]:
    """Mean reward (total and per function) over the first and the last tenth of rollouts, and the final KL."""
    if not history:
        return {}
    tenth = max(1, len(history) // 10)
    out = {}
    for key in ["reward"] + [f"rewards/{name}/mean" for name in reward_funcs]:
        out[f"rl/first_tenth/{key}"] = sum(r[key] for r in history[:tenth]) / tenth
        out[f"rl/last_tenth/{key}"] = sum(r[key] for r in history[-tenth:]) / tenth
    return out | {"rl/final_kl": history[-1]["kl"]}


def run_rl_stage(cfg, common, tracking, repo: Path) -> tuple[dict[str, float], int]:
    """GRPO from `cfg.init_from`; writes models/rl, the metrics, the reward curve and the selection's
    composition. Returns the metrics and the number of prompts (empty and 0 on ranks other than 0)."""
    from lingshu.model.factory import load_model
    from lingshu.rl.run import fit_rl
    from lingshu.train.heldout import measure_heldout

    output = checkpoint_path(repo, "rl")
    if not is_global_zero():  # another process of a multi-process launch: train, then leave the reporting to rank 0
        fit_rl(common, cfg, repo, output, progress=False)
        return {}, 0
    inputs = [relative_checkpoint(cfg.init_from), common.data_dir, common.synthetic_dir]
    with stage_run("rl", {"common": common, "rl": cfg}, tracking, inputs) as run:
        module, selection = fit_rl(common, cfg, repo, output, logger=lightning_logger(run, tracking),
                                   progress=sys.stderr.isatty())
        history = module.history
        metrics = selection.metrics() | {"rl/rollouts": float(len(history))}
        metrics |= {f"trainable_params/{m}": float(n) for m, n in module.trainable_counts.items()}
        metrics |= reward_summary(history, list(cfg.reward_funcs))
        saved = load_model(output)
        metrics |= measure_heldout(saved, module.processor, common, repo, vqa=cfg.evaluate_vqa)
        atomic_write_json(repo / cfg.metrics_file, metrics)
        atomic_write_csv(repo / cfg.plots_file, history)
        atomic_write_csv(repo / cfg.selection_file, selection.composition())
        log_stage_metrics(metrics, plots=[repo / cfg.plots_file, repo / cfg.selection_file])
    return metrics, len(selection.prompts)
