"""DVC stage `curate`: data/sources -> data/curated (Parquet per group), data/images, data/rejected.

Thin entry point: load `curate` params (plus `key=value` overrides), run lingshu.data.curate, write
outputs, metrics and plots, and log the run to MLflow.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.data.curate_report import curate_and_report
from lingshu.data.decontam import select_benchmarks
from lingshu.tracking import log_stage_metrics, repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="curate.* overrides as key=value, e.g. min_image_side=128")
    args = parser.parse_args(argv)
    cfg = load_section("curate", args.params, args.overrides)
    tracking = load_section("tracking", args.params)
    repo = repo_root()
    inputs = [s.path for s in cfg.sources] + [b.path for b in select_benchmarks(cfg.benchmarks)]
    with stage_run("curate", cfg, tracking, inputs, "source"):
        metrics, plots = curate_and_report(cfg, repo)
        log_stage_metrics(metrics, [repo / cfg.metrics_file], plots)
    print(f"curate: {metrics['inputs']} inputs -> {metrics['kept']} kept, {metrics['rejected']} rejected "
          f"({metrics['rejected_by_reason']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
