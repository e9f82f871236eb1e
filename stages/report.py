"""DVC stage `report`: how every benchmark moved through the pipeline, whether the model uses its images,
and what RL changed, with paired CIs (lingshu.report.summary).

Thin entry point: build the report of `report.checkpoints`, write reports/summary.md, metrics/report.json
and plots/report/{progression.png,deltas.png,comparison.csv}, and log all of it to MLflow.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.tracking import log_artifact, repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="report.* overrides as key=value, e.g. baseline=deep")
    args = parser.parse_args(argv)
    cfg = load_section("report", args.params, args.overrides)
    evaluation = load_section("eval", args.params)
    repo = repo_root()
    import mlflow

    from lingshu.report.compare import to_markdown
    from lingshu.report.summary import build, write

    with stage_run("report", cfg, load_section("tracking", args.params)):
        report = build(cfg, evaluation, repo)
        written = write(report, cfg, repo)
        mlflow.log_metrics(report.metrics)
        log_artifact(repo / cfg.summary_file)
        log_artifact(repo / cfg.plots_dir, "plots")
    print(to_markdown(report.comparison))
    print(f"report: {len(written)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
