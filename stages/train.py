"""DVC stages `train_shallow`, `train_deep`, `train_instruct`: one supervised stage with Lightning.

Thin entry point: load `train.common` and `train.<stage>` (plus `key=value` overrides), train from the
previous stage's checkpoint (resuming from this stage's last checkpoint if a run was interrupted),
save models/<stage>, and write the held-out metrics and the loss curve. Loss, learning rates,
tokens/s and trainable parameters per module go to MLflow through Lightning's MLflow logger.
Under a multi-process launch (Lightning's, srun, torchrun) only global rank 0 reports (lingshu/ranks.py).
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.io import atomic_write_json
from lingshu.ranks import is_global_zero
from lingshu.tracking import repo_root, stage_run

STAGES = ("shallow", "deep", "instruct")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=STAGES, help="which supervised stage to run")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="train.* overrides as key=value, e.g. instruct.epochs=3")
    args = parser.parse_args(argv)
    train = load_section("train", args.params, args.overrides)
    stage = getattr(train, args.stage)
    tracking = load_section("tracking", args.params)
    repo = repo_root()
    import mlflow
    from pytorch_lightning.loggers import MLFlowLogger

    from lingshu.model.factory import load_model
    from lingshu.train.heldout import measure_heldout
    from lingshu.train.run import fit_stage

    if not is_global_zero():  # another process of a multi-process launch: train, then leave the reporting to rank 0
        fit_stage(train.common, stage, repo, progress=False)
        return 0
    with stage_run(f"train_{args.stage}", {"common": train.common, args.stage: stage}, tracking,
                   [stage.init_from, train.common.data_dir, train.common.synthetic_dir]) as run:
        logger = MLFlowLogger(experiment_name=tracking.experiment, tracking_uri=mlflow.get_tracking_uri(),
                              run_id=run.info.run_id)
        module, data, curve = fit_stage(train.common, stage, repo, logger=logger, progress=sys.stderr.isatty())
        metrics = {f"data/{k}": float(v) for k, v in data.stats.items()}
        metrics["train/steps"] = float(len(curve.rows))
        metrics["train/final_loss"] = curve.rows[-1]["loss"] if curve.rows else float("nan")
        metrics |= {f"trainable_params/{m}": float(n) for m, n in module.trainable_counts.items()}
        saved = load_model(repo / stage.output_dir)  # what the next stage gets (and whole even under ZeRO-3)
        metrics |= measure_heldout(saved, data.processor, train.common, repo, vqa=stage.evaluate_vqa)
        atomic_write_json(repo / stage.metrics_file, metrics)
        curve.write(repo / stage.plots_file)
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(repo / stage.plots_file), artifact_path="plots")
    summary = {k: round(v, 4) for k, v in metrics.items() if k.startswith(("heldout/", "vqa/"))}
    print(f"train_{args.stage}: {len(curve.rows)} steps -> {stage.output_dir} {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
