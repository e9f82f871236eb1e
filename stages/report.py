"""DVC stage `report`: how every benchmark moved through the pipeline, and what RL changed, with paired CIs.

Thin entry point: read the evaluations of `report.checkpoints`, draw the stage progression (base ->
shallow -> deep -> instruct -> rl) per benchmark, compare `report.compare` with `report.baseline`
question by question (paired bootstrap deltas, `*` where the interval excludes 0, suite averages), and
write reports/summary.md, metrics/report.json and plots/report/{progression.png,deltas.png,comparison.csv};
all of it is logged to MLflow.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
from lingshu.tracking import repo_root, stage_run


def progression_table(scores: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per checkpoint, one column per benchmark (score [CI])."""
    benchmarks = list(next(iter(scores.values())))
    lines = ["| checkpoint | " + " | ".join(benchmarks) + " |", "|---" * (len(benchmarks) + 1) + "|"]
    for checkpoint, results in scores.items():
        cells = [f"{results[b]['score']:.1f} [{results[b]['ci_low']:.1f}, {results[b]['ci_high']:.1f}]" for b in benchmarks]
        lines.append(f"| {checkpoint} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="report.* overrides as key=value, e.g. baseline=deep")
    args = parser.parse_args(argv)
    cfg = load_section("report", args.params, args.overrides)
    evaluation = load_section("eval", args.params)
    repo = repo_root()
    import mlflow

    from lingshu.report.charts import delta_chart, progression_chart
    from lingshu.report.collect import benchmark_groups, evaluated_ids, question_scores, suite_scores, workspace
    from lingshu.report.compare import compare_systems, to_markdown, to_metrics, to_rows

    with stage_run("report", cfg, load_section("tracking", args.params)):
        suites = {c: suite_scores(evaluation, c, workspace(repo)) for c in cfg.checkpoints}
        ids = evaluated_ids(evaluation, repo)
        systems = {c: question_scores(evaluation, c, ids, workspace(repo)) for c in [cfg.baseline, *cfg.compare]}
        comparison = compare_systems(cfg.baseline, systems, benchmark_groups(evaluation), cfg.resamples, cfg.seed)
        plots = repo / cfg.plots_dir
        progression_chart(suites, plots / "progression.png")
        delta_chart(comparison, plots / "deltas.png")
        atomic_write_csv(plots / "comparison.csv", to_rows(comparison))
        metrics = to_metrics(comparison)
        atomic_write_json(repo / cfg.metrics_file, metrics)
        summary = "\n\n".join([
            "# Pipeline report",
            f"## Stage progression\n\nAccuracy (%) with 95% bootstrap CIs, {evaluation.limit or 'all'} questions per "
            "benchmark at most.\n\n" + progression_table(suites) + "\n\n![progression](../plots/report/progression.png)",
            f"## {', '.join(cfg.compare)} vs {cfg.baseline}\n\nPaired on the same questions.\n\n" + to_markdown(comparison)
            + "\n\n![deltas](../plots/report/deltas.png)",
        ]) + "\n"
        atomic_write_bytes(repo / cfg.summary_file, summary.encode())
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifact(str(repo / cfg.summary_file))
        mlflow.log_artifacts(str(plots), artifact_path="plots")
    print(to_markdown(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
