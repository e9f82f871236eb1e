"""DVC stage `curate`: data/sources -> data/curated (Parquet per group), data/images, data/rejected.

Thin entry point: load `curate` params (plus `key=value` overrides), run lingshu.data.curate, write
outputs, metrics and plots, and log the run to MLflow.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.data.curate import Curator, write_outputs
from lingshu.data.curate_report import build_metrics, write_plots
from lingshu.io import atomic_write_json
from lingshu.tracking import repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="curate.* overrides as key=value, e.g. min_image_side=128")
    args = parser.parse_args(argv)
    cfg = load_section("curate", args.params, args.overrides)
    tracking = load_section("tracking", args.params)
    repo = repo_root()
    import mlflow

    with stage_run("curate", cfg, tracking, [s.path for s in cfg.sources + cfg.benchmarks], "source"):
        curator = Curator(cfg, repo)
        result = curator.run()
        write_outputs(result, cfg, repo, curator.store)
        metrics = build_metrics(result, curator.benchmarks.sizes)
        atomic_write_json(repo / cfg.metrics_file, metrics)
        plots = write_plots(result, repo / cfg.plots_dir)
        flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        flat |= {f"rejected.{k}": v for k, v in metrics["rejected_by_reason"].items()}
        flat |= {f"kept.{k}": v for k, v in metrics["kept_by_group"].items()}
        accuracy = metrics["modality_classifier"].get("heldout_accuracy")
        if accuracy is not None:
            flat["modality_classifier.heldout_accuracy"] = accuracy
        mlflow.log_metrics(flat)
        mlflow.log_artifact(str(repo / cfg.metrics_file))
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")
    print(f"curate: {metrics['inputs']} inputs -> {metrics['kept']} kept, {metrics['rejected']} rejected "
          f"({metrics['rejected_by_reason']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
