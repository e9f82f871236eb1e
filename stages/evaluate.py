"""DVC stage `evaluate@<checkpoint>`: score one checkpoint (models/<checkpoint>) on the eval benchmarks.

Thin entry point: load the `eval` params, run lingshu.eval on models/<checkpoint>, write
eval/<checkpoint>/ (per-sample predictions and per-benchmark metrics), metrics/eval/<checkpoint>.json
and plots/eval/<checkpoint>.csv, and log scores, CIs and predictions to MLflow. A killed run resumes
from its predictions; predictions made for other weights or settings are discarded, not reused.
"""

import argparse
import sys
from dataclasses import asdict

from lingshu.config import load_section
from lingshu.fingerprint import fingerprint
from lingshu.io import atomic_write_bytes, atomic_write_json
from lingshu.tracking import repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint name under eval.checkpoints_dir (base, shallow, deep, instruct, rl)")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="eval.* overrides as key=value, e.g. limit=20")
    args = parser.parse_args(argv)
    cfg = load_section("eval", args.params, args.overrides)
    repo = repo_root()
    import mlflow

    import lingshu.eval.loaders  # noqa: F401
    from lingshu.eval.backends import make_backend
    from lingshu.eval.benchmark import select
    from lingshu.eval.controls import parse_controls
    from lingshu.eval.runner import start_or_resume
    from lingshu.eval.suite import SuiteRun, evaluate_suite, flat_metrics

    model_dir = repo / cfg.checkpoints_dir / args.checkpoint
    out = repo / cfg.out_dir / args.checkpoint
    settings = {k: v for k, v in asdict(cfg).items() if k in ("protocol", "backend", "max_new_tokens", "dtype")}
    options = cfg.backend_options()  # a setting the backend cannot take fails here, before any run is opened
    run = SuiteRun(root=repo, protocol=cfg.protocol, batch_size=cfg.batch_size, limit=cfg.limit,
                   controls=parse_controls(list(cfg.controls)))
    benches = select(list(cfg.benchmarks))
    with stage_run(f"evaluate@{args.checkpoint}", cfg, load_section("tracking", args.params),
                   [str(model_dir.relative_to(repo)), *sorted({b.path for b in benches})], "evaluation"):
        mlflow.set_tag("lingshu.checkpoint", args.checkpoint)
        resumed = start_or_resume(out, fingerprint(settings, model_dir))
        backend = make_backend(cfg.backend, str(model_dir), **options)
        results, suite = evaluate_suite(benches, backend, out, run)
        atomic_write_json(repo / cfg.metrics_dir / f"{args.checkpoint}.json", suite)
        rows = "benchmark,score,ci_low,ci_high\n" + "".join(
            f"{r['benchmark']},{r['score']:.2f},{r['ci_low']:.2f},{r['ci_high']:.2f}\n" for r in results)
        atomic_write_bytes(repo / cfg.plots_dir / f"{args.checkpoint}.csv", rows.encode())
        mlflow.log_metrics(flat_metrics(results, suite))
        mlflow.log_artifacts(str(out), artifact_path="eval")
    summary = ", ".join(f"{r['benchmark']} {r['score']:.1f}" for r in results)
    print(f"evaluate@{args.checkpoint}: {summary}{' (resumed)' if resumed else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
