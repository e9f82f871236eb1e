"""One evaluation over a list of benchmarks, with image controls: what the `evaluate` stage and `lingshu eval` run.

For each benchmark: answer its items (a fixed sample of `limit`, benchmark.sample), score them, then for every requested image
control answer the items that have images again under that control and pair each question's real score
with its control score. The paired difference real − control, with a bootstrap interval over the
questions, is the benchmark's measure of how much its answers depend on the image. Everything lands in
`<out>/<benchmark>/metrics.json` and the suite's `<out>/metrics.json` (a rescoring names its own file,
`metrics_rescored_<protocol>.json`, so that it never overwrites the run it rescored). With an audit's
exclusions, each benchmark's clean subset is scored beside it (lingshu.eval.clean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lingshu.eval.benchmark import Benchmark
from lingshu.eval.clean import clean_metrics
from lingshu.eval.controls import control_items
from lingshu.eval.runner import METRICS, SUMMARY_KEYS, benchmark_metrics, generate, predictions_file, score_file, suite_summary
from lingshu.io import atomic_write_json
from lingshu.stats.paired import paired_bootstrap

Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)


@dataclass
class SuiteRun:
    """How to run: the benchmarks' data root, protocol, batching, item limit, controls, an optional judge, the
    name of the metrics files it writes, and optionally the test items to leave out of a clean subset (an audit)."""

    root: Path
    protocol: str = "strict"
    batch_size: int = 16
    limit: int = 0
    controls: list[str] = field(default_factory=list)
    judge: object | None = None
    progress: Progress | None = None
    metrics_name: str = METRICS
    exclude: dict[str, dict] | None = None  # lingshu.data.audit.exclusions of `exclude_file`; None: no clean subset
    exclude_file: str = ""


def _answer(bench: Benchmark, items: list, backend, path: Path, run: SuiteRun, label: str) -> None:
    if backend is None:  # rescoring: the predictions are already there
        return
    advance = run.progress(label, len(items)) if run.progress else (lambda n: None)
    generate(bench, items, backend, path, run.protocol, run.batch_size, advance)


def evaluate_benchmark(bench: Benchmark, backend, out: Path, run: SuiteRun) -> dict:
    """Answer (unless `backend` is None), score and control one benchmark; returns its metrics."""
    items = bench.items(run.root, run.limit)
    path = predictions_file(out, bench.name)
    _answer(bench, items, backend, path, run, bench.name)
    store = "verdicts" if backend is None else "scores"  # a rescoring keeps the judge's verdicts, not its scores
    scored, judge_report = score_file(path, run.protocol, {i.id for i in items}, run.judge, bench, store)
    metrics = benchmark_metrics(bench, scored, run.protocol, judge_report)
    if run.exclude is not None:
        metrics["clean"] = clean_metrics(bench, scored, run.exclude, run.exclude_file, run.root)
    real = {r["id"]: float(r["correct"]) for r in scored}
    for control in run.controls:
        controlled = control_items(items, control, path.parent / control)
        if not controlled:  # a text benchmark: nothing to control
            continue
        control_path = predictions_file(out, bench.name, control)
        _answer(bench, controlled, backend, control_path, run, f"{bench.name} ({control})")
        control_scored, control_judged = score_file(control_path, run.protocol, {i.id for i in controlled}, run.judge,
                                                    bench, store)
        control_metrics = benchmark_metrics(bench, control_scored, run.protocol, control_judged)
        atomic_write_json(control_path.parent / run.metrics_name, control_metrics)
        control_scores = {r["id"]: float(r["correct"]) for r in control_scored}
        delta = paired_bootstrap(control_scores, {i: real[i] for i in control_scores})
        metrics.setdefault("controls", {})[control] = {k: control_metrics[k] for k in SUMMARY_KEYS} | {
            "real_minus_control": {"delta": delta.delta, "ci_low": delta.ci_low, "ci_high": delta.ci_high,
                                   "n": delta.n, "significant": delta.significant}}
    metrics["ids"] = [item.id for item in items]  # the questions asked: what the report pairs, without the data
    atomic_write_json(path.parent / run.metrics_name, metrics)
    return metrics


def evaluate_suite(benches: list[Benchmark], backend, out: Path, run: SuiteRun) -> tuple[list[dict], dict]:
    """Every benchmark's metrics and the suite summary (written to `<out>/<run.metrics_name>`)."""
    results = [evaluate_benchmark(bench, backend, out, run) for bench in benches]
    return results, suite_summary(results, out, run.metrics_name)


def flat_metrics(results: list[dict], suite: dict) -> dict[str, float]:
    """MLflow names: `<benchmark>/accuracy|ci_low|ci_high|parse_fail_rate`, `<benchmark>/<control>/...`,
    `<benchmark>/judged/<open|closed|overall>/accuracy|n` (with a judge),
    `group/<g>` (the macro average) and `group/<g>/weighted` (weighted by questions)."""
    flat: dict[str, float] = {}
    for r in results:
        name = r["benchmark"]
        flat |= {f"{name}/accuracy": r["score"], f"{name}/ci_low": r["ci_low"], f"{name}/ci_high": r["ci_high"],
                 f"{name}/parse_fail_rate": r["parse_fail_rate"]}
        for control, c in r.get("controls", {}).items():
            gap = c["real_minus_control"]
            flat |= {f"{name}/{control}/accuracy": c["score"], f"{name}/{control}/real_minus_control": gap["delta"],
                     f"{name}/{control}/real_minus_control_ci_low": gap["ci_low"],
                     f"{name}/{control}/real_minus_control_ci_high": gap["ci_high"]}
        for kind, judged in r.get("judge", {}).get("by_kind", {}).items():
            if judged["n"]:
                flat |= {f"{name}/judged/{kind}/accuracy": judged["score"], f"{name}/judged/{kind}/n": judged["n"]}
    flat |= {f"group/{g}": v for g, v in suite["groups"].items()}
    return flat | {f"group/{g}/weighted": a["weighted"] for g, a in suite["group_averages"].items()}
