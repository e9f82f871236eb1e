"""DVC stage `rl`: GRPO with verifiable rewards, from models/instruct to models/rl.

Thin entry point: load the `rl` params (plus `key=value` overrides) and `train.common` (data locations,
hardware), select the verifiable prompts, run GRPO (resuming an interrupted run), save models/rl, and
write the selection's composition, the per-rollout reward curve and the held-out results. Rewards per
function, KL, clip fractions and completion lengths go to MLflow per rollout, sample completions as a
table artifact.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.io import atomic_write_csv, atomic_write_json
from lingshu.ranks import is_global_zero
from lingshu.tracking import repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="rl.* overrides as key=value, e.g. num_generations=16")
    args = parser.parse_args(argv)
    cfg = load_section("rl", args.params, args.overrides)
    common = load_section("train", args.params).common
    tracking = load_section("tracking", args.params)
    repo = repo_root()
    import mlflow
    from pytorch_lightning.loggers import MLFlowLogger

    from lingshu.model.factory import load_model
    from lingshu.rl.run import fit_rl
    from lingshu.train.heldout import measure_heldout

    if not is_global_zero():  # another process of a multi-process launch: train, then leave the reporting to rank 0
        fit_rl(common, cfg, repo, progress=False)
        return 0
    with stage_run("rl", {"common": common, "rl": cfg}, tracking,
                   [cfg.init_from, common.data_dir, common.synthetic_dir]) as run:
        logger = MLFlowLogger(experiment_name=tracking.experiment, tracking_uri=mlflow.get_tracking_uri(),
                              run_id=run.info.run_id)
        module, selection = fit_rl(common, cfg, repo, logger=logger, progress=sys.stderr.isatty())
        history = module.history
        metrics = selection.metrics() | {"rl/rollouts": float(len(history))}
        metrics |= {f"trainable_params/{m}": float(n) for m, n in module.trainable_counts.items()}
        if history:
            tenth = max(1, len(history) // 10)
            for key in ["reward"] + [f"rewards/{name}/mean" for name in cfg.reward_funcs]:
                metrics[f"rl/first_tenth/{key}"] = sum(r[key] for r in history[:tenth]) / tenth
                metrics[f"rl/last_tenth/{key}"] = sum(r[key] for r in history[-tenth:]) / tenth
            metrics["rl/final_kl"] = history[-1]["kl"]
        saved = load_model(repo / cfg.output_dir)
        metrics |= measure_heldout(saved, module.processor, common, repo, vqa=cfg.evaluate_vqa)
        atomic_write_json(repo / cfg.metrics_file, metrics)
        atomic_write_csv(repo / cfg.plots_file, history)
        atomic_write_csv(repo / cfg.selection_file, selection.composition())
        mlflow.log_metrics(metrics)
        for path in (cfg.plots_file, cfg.selection_file):
            mlflow.log_artifact(str(repo / path), artifact_path="plots")
    reward = {k: round(v, 3) for k, v in metrics.items() if k.startswith(("rl/first", "rl/last", "vqa/accuracy"))}
    print(f"rl: {len(selection.prompts)} prompts, {len(history)} rollouts -> {cfg.output_dir} {reward}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
