"""The ablation report: every declared variant against the full model, question by question, and in MLflow.

The full model is the workspace's pipeline (its instruct checkpoint); a variant is a finished DVC
experiment (its checkpoint's predictions read at the experiment's commit) or, with no params, another
checkpoint of the full pipeline (RL vs SFT). The comparison is the paired one of `compare.py`, written as
reports/ablations.md, plots/ablations/{deltas.png,comparison.csv} and metrics/ablations.json (declared in
dvc.yaml, so `dvc metrics show` and `dvc plots show` find them).

In MLflow, experiment `<tracking.experiment>-ablations` gets one summary run per system (variant name,
DVC experiment name, base commit, every params.yaml value flattened, score and CI per benchmark and
suite, delta vs the full model), so the UI's run comparison lines them up; rerunning replaces a
system's earlier summary run instead of adding a duplicate. A last run holds the report itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from lingshu.config import build_section, flatten
from lingshu.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
from lingshu.report.collect import Reader, benchmark_groups, evaluated_ids, question_scores, suite_scores, workspace
from lingshu.report.compare import Comparison, compare_systems, to_markdown, to_metrics, to_rows
from lingshu.report.experiments import Finished, read_text
from lingshu.report.variants import Variant

FULL = "full"


@dataclass
class System:
    """One row of the ablation table: where its predictions are read from."""

    name: str
    label: str
    checkpoint: str
    read: Reader
    finished: Finished | None = None
    variant: Variant | None = None


def systems_of(repo: Path, variants: list[Variant], runs: dict[str, Finished]) -> list[System]:
    """The full model first, then each variant whose results exist (a variant not run yet is an error)."""
    out = [System(FULL, "full model (instruct)", "instruct", workspace(repo))]
    missing = [v.name for v in variants if v.needs_run and v.name not in runs]
    if missing:
        raise ValueError(f"no finished DVC experiment for {missing}: run `lingshu ablate --only {' '.join(missing)}`")
    for v in variants:
        run = runs.get(v.name) if v.needs_run else None
        read = (lambda path, rev=run.rev: read_text(repo, path, rev)) if run else workspace(repo)
        out.append(System(v.name, v.label, v.checkpoint, read, run, v))
    return out


def compare(systems: list[System], evaluation, repo: Path, resamples: int, seed: int) -> Comparison:
    ids = evaluated_ids(evaluation, repo)
    scores = {s.name: question_scores(evaluation, s.checkpoint, ids, s.read) for s in systems}
    return compare_systems(FULL, scores, benchmark_groups(evaluation), resamples, seed)


def declarations_table(systems: list[System], comparison: Comparison) -> str:
    """Markdown: what each variant changed, its average change here, and the paper's for the same ablation."""
    lines = ["| variant | what changes | macro average change here | paper's average (full 61.8) |", "|---|---|---:|---:|"]
    groups = list(comparison.groups)
    for system in systems[1:]:
        change = ", ".join(f"`{k}={v}`" for k, v in system.variant.params.items()) or f"checkpoint `{system.checkpoint}`"
        deltas = [comparison.groups[g].deltas[system.name].delta for g in groups]
        here = sum(deltas) / len(deltas) if deltas else float("nan")
        paper = "" if system.variant.paper_average is None else f"{system.variant.paper_average:.1f}"
        lines.append(f"| {system.name} ({system.label}) | {change} | {here:+.1f} | {paper} |")
    return "\n".join(lines)


def write_outputs(repo: Path, systems: list[System], comparison: Comparison, out: dict[str, str]) -> dict[str, float]:
    from lingshu.report.charts import delta_chart

    metrics = to_metrics(comparison)
    atomic_write_json(repo / out["metrics"], metrics)
    atomic_write_csv(repo / out["plots_dir"] / "comparison.csv", to_rows(comparison))
    delta_chart(comparison, repo / out["plots_dir"] / "deltas.png")
    text = "\n\n".join([
        "# Ablations",
        "Each variant against the full model, paired on the same questions (rerun: `lingshu ablate`).",
        to_markdown(comparison),
        declarations_table(systems, comparison),
        "![deltas](../plots/ablations/deltas.png)",
    ]) + "\n"
    atomic_write_bytes(repo / out["summary"], text.encode())
    return metrics


def log_summary_runs(repo: Path, systems: list[System], comparison: Comparison, tracking, outputs: list[Path]) -> None:
    """One MLflow run per system (replacing its earlier one) and one holding the report's files."""
    import mlflow

    from lingshu.tracking import git_commit, log_params, use_experiment

    experiment = f"{tracking.experiment}-ablations"
    use_experiment(tracking, repo, experiment)
    metrics = to_metrics(comparison)
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    for system in systems:
        rev = system.finished.rev if system.finished else git_commit(repo)
        for old in client.search_runs([experiment_id], f"tags.`lingshu.variant` = '{system.name}'"):
            client.delete_run(old.info.run_id)
        params = yaml.safe_load(system.read("params.yaml")) or {}
        tags = {"lingshu.variant": system.name, "lingshu.label": system.label, "lingshu.checkpoint": system.checkpoint,
                "dvc.exp_name": system.finished.name if system.finished else "(workspace)",
                "dvc.baseline_rev": system.finished.baseline if system.finished else rev,
                "mlflow.source.git.commit": rev}
        with mlflow.start_run(run_name=system.name, tags=tags):
            log_params(flatten(params))
            evaluation = build_section("eval", params.get("eval"), f"{system.name}: params.yaml")  # as that system ran
            suite = suite_scores(evaluation, system.checkpoint, system.read)
            values = {f"{b}/{k}": float(r[k]) for b, r in suite.items() for k in ("score", "ci_low", "ci_high")}
            prefix = f"{system.name}/"
            values |= {k[len(prefix):]: float(v) for k, v in metrics.items() if k.startswith(prefix)}
            mlflow.log_metrics(values)
    with mlflow.start_run(run_name="ablation-report", tags={"lingshu.stage": "ablation-report"}):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for path in outputs:
            mlflow.log_artifact(str(path))
