"""DVC stages `validate` and `validate_synthetic`: the Great Expectations suites of data_checks/ on one scope.

`python stages/validate.py` checks curate's tables (results in reports/validation/, metrics/validate.json);
`python stages/validate.py synthetic` checks synthesize's tables (reports/validation_synthetic/,
metrics/validate_synthetic.json). A failed expectation fails the stage (and so `dvc repro`) with a message
naming the suite, the expectation and example rows.
"""

import argparse
import sys

from lingshu.checks.run import checks_metrics, run_checks
from lingshu.checks.suites import describe_failures
from lingshu.config import load_section
from lingshu.io import atomic_write_json
from lingshu.tracking import log_stage_metrics, repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scope", nargs="?", default="curated", choices=["curated", "synthetic"],
                        help="which tables to check (default: curated)")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    curate = load_section("curate", args.params)
    validate = load_section("validate", args.params)
    repo = repo_root()

    synthetic = args.scope == "synthetic"
    stage = "validate_synthetic" if synthetic else "validate"
    metrics_file = validate.synthetic_metrics_file if synthetic else validate.metrics_file
    results_dir = validate.synthetic_results_dir if synthetic else validate.results_dir
    with stage_run(stage, validate, load_section("tracking", args.params)):
        outcomes = run_checks(curate, validate, repo, args.scope, args.params)
        metrics = checks_metrics(outcomes)
        atomic_write_json(repo / metrics_file, metrics)
        log_stage_metrics(metrics)
        import mlflow

        mlflow.log_artifacts(str(repo / results_dir), artifact_path="validation")
    if metrics["suites_failed"]:
        print(f"{stage}: data checks FAILED\n" + describe_failures(outcomes), file=sys.stderr)
        print(f"results: {repo / results_dir}", file=sys.stderr)
        return 1
    print(f"{stage}: {metrics['suites']} suites, {metrics['expectations']} expectations, all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
