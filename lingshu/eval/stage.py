"""The `evaluate@<checkpoint>` stage as a library call: score one checkpoint, write and log the results.

`stages/evaluate.py` is only its argument parser; `lingshu eval` runs the same suite (lingshu/eval/suite.py)
for any model. A killed run resumes from its predictions; predictions made for other weights or settings
are discarded (the fingerprint, lingshu/eval/outdir.py, which `lingshu eval` checks too), not reused, and
the folder is locked while the stage writes it. With `eval.judge.model` set, the judge (lingshu/eval/judge.py)
decides what the rules cannot, and its verdicts are kept in the predictions; the judge is not part of the
fingerprint, so adding or changing one judges the existing answers instead of generating them again.
"""

from __future__ import annotations

from pathlib import Path

from lingshu.checkpoints import checkpoint_path
from lingshu.io import atomic_write_bytes, atomic_write_json
from lingshu.tracking import log_artifact, set_tags, stage_run


def run_eval_stage(checkpoint: str, cfg, tracking, repo: Path) -> tuple[list[dict], bool]:
    """Evaluate models/<checkpoint> on `cfg.benchmarks`; returns the per-benchmark results and whether
    earlier predictions were resumed."""
    import mlflow

    import lingshu.eval.loaders  # noqa: F401
    from lingshu.eval.backends import make_backend
    from lingshu.eval.benchmark import select
    from lingshu.eval.controls import parse_controls
    from lingshu.eval.judge import make_judge
    from lingshu.eval.outdir import answer_settings, locked, run_key, start_or_resume
    from lingshu.eval.suite import SuiteRun, evaluate_suite, flat_metrics

    model_dir = checkpoint_path(repo, checkpoint)
    out = repo / cfg.out_dir / checkpoint
    settings = answer_settings(cfg)
    options = cfg.backend_options()  # a setting the backend cannot take fails here, before any run is opened
    run = SuiteRun(root=repo, protocol=cfg.protocol, batch_size=cfg.batch_size, limit=cfg.limit,
                   controls=parse_controls(list(cfg.controls)), judge=make_judge(cfg.judge))
    benches = select(list(cfg.benchmarks))
    inputs = [str(model_dir.relative_to(repo)), *sorted({b.path for b in benches})]
    with stage_run(f"evaluate@{checkpoint}", cfg, tracking, inputs, "evaluation"), locked(out):
        set_tags({"lingshu.checkpoint": checkpoint})
        resumed = start_or_resume(out, run_key(str(model_dir), settings))
        backend = make_backend(cfg.backend, str(model_dir), **options)
        results, suite = evaluate_suite(benches, backend, out, run)
        atomic_write_json(repo / cfg.metrics_dir / f"{checkpoint}.json", suite)
        rows = "benchmark,score,ci_low,ci_high\n" + "".join(
            f"{r['benchmark']},{r['score']:.2f},{r['ci_low']:.2f},{r['ci_high']:.2f}\n" for r in results)
        atomic_write_bytes(repo / cfg.plots_dir / f"{checkpoint}.csv", rows.encode())
        mlflow.log_metrics(flat_metrics(results, suite))
        log_artifact(out, "eval")
    return results, resumed
