"""The `model_init` stage as a library call: build the tiny model (or load a real checkpoint) into models/base.

`stages/model_init.py` is only its argument parser. The base checkpoint's size per module and its held-out
caption loss (the reference the alignment stages must improve on) go to metrics/model_init.json and MLflow.
"""

from __future__ import annotations

from pathlib import Path

from lingshu.checkpoints import checkpoint_path
from lingshu.io import atomic_write_json
from lingshu.tracking import log_stage_metrics, stage_run


def run_model_init(cfg, common, tracking, repo: Path) -> dict[str, float]:
    """Build or load the backbone, save it as models/base, measure it; returns the metrics."""
    from lingshu.model.factory import initialise, save
    from lingshu.model.freezing import parameters_by_module
    from lingshu.train.heldout import measure_heldout

    with stage_run("model_init", cfg, tracking, [common.data_dir, common.synthetic_dir]):
        model, processor = initialise(cfg, repo)
        save(model, processor, checkpoint_path(repo, "base"))
        metrics = {f"params/{m}": float(sum(p.numel() for _, p in ps)) for m, ps in parameters_by_module(model).items()}
        metrics["params/total"] = float(sum(p.numel() for p in model.parameters()))
        metrics["vocab_size"] = float(len(processor.tokenizer))
        metrics |= measure_heldout(model, processor, common, repo, vqa=False)
        atomic_write_json(repo / cfg.metrics_file, metrics)
        log_stage_metrics(metrics)
    return metrics
