"""The ablation report: every declared variant against the full model, question by question, over seeds, and in MLflow.

The full model is the workspace's pipeline (its instruct checkpoint); a variant is a finished DVC
experiment (its checkpoint's predictions read at the experiment's commit) or, with no params, another
checkpoint of the full pipeline (RL vs SFT). Benchmarks run with the blank-image control add a column
each: per question, the real-image score minus the blank-image one, so an ablation's effect on how much
the model uses its images is compared like any score.

With one seed the comparison is `compare_systems` (paired bootstrap over questions, blind to training
noise). With N seeds (`lingshu ablate --seeds N`), replicate k of every system is the same run with each
`report.seed_params` key raised by k — a DVC experiment `<system>-seed<k>` (the full model's is
`full-seed<k>`; replicate 0 is the workspace and the variants' plain-named experiments) — and
`compare_seeded` pairs seed k of a variant with seed k of the full model, its intervals counting seed
variance and question sampling. The report is reports/ablations.md, plots/ablations/{deltas.png,
comparison.csv} and metrics/ablations.json (declared in dvc.yaml, so `dvc metrics show` and
`dvc plots show` find them).

In MLflow, experiment `<tracking.experiment>-ablations` gets one summary run per system (variant name,
DVC experiment names, base commit, every params.yaml value flattened, score and CI per benchmark and
suite, delta vs the full model), so the UI's run comparison lines them up; rerunning replaces a
system's earlier summary run instead of adding a duplicate. A last run holds the report itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lingshu.config import build_section, flatten
from lingshu.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
from lingshu.eval.controls import GAP_NAMES, gap_column
from lingshu.report.collect import (GAP_GROUP, Reader, benchmark_groups, controlled_benchmarks, evaluated_ids,
                                    scores_with_gaps, suite_scores, workspace)
from lingshu.report.compare import Comparison, compare_seeded, compare_systems, to_markdown, to_metrics, to_rows
from lingshu.report.experiments import Finished, read_text
from lingshu.report.variants import Variant

FULL = "full"


@dataclass
class Replicate:
    """One seed of a system: where its files are read from (the workspace, or an experiment's commit)."""

    index: int
    read: Reader
    finished: Finished | None = None


@dataclass
class System:
    """One row of the ablation table and its seed replicates (replicate 0 first)."""

    name: str
    label: str
    checkpoint: str
    replicates: list[Replicate] = field(default_factory=list)
    variant: Variant | None = None


def replicate_name(system: str, index: int) -> str:
    """The DVC experiment of a system's seed replicate: the system's own name for replicate 0."""
    return system if index == 0 else f"{system}-seed{index}"


def _reader(repo: Path, run: Finished) -> Reader:
    return lambda path: read_text(repo, path, run.rev)


def systems_of(repo: Path, variants: list[Variant], runs: dict[str, Finished], seeds: int = 1) -> list[System]:
    """The full model first, then each variant, each with `seeds` replicates (one not run yet is an error)."""
    missing: list[str] = []

    def replicates(name: str) -> list[Replicate]:
        found = [Replicate(0, workspace(repo))] if name == FULL else []
        for index in range(0 if name != FULL else 1, seeds):
            run = runs.get(replicate_name(name, index))
            if run is None:
                missing.append(replicate_name(name, index))
            else:
                found.append(Replicate(index, _reader(repo, run), run))
        return found

    full = replicates(FULL)
    systems = [System(FULL, "full model (instruct)", "instruct", full)]
    for v in variants:  # a variant without params is another checkpoint of the full model's own runs
        systems.append(System(v.name, v.label, v.checkpoint, replicates(v.name) if v.needs_run else full, v))
    if missing:
        raise ValueError(f"no finished DVC experiment for {missing}: run `lingshu ablate --seeds {seeds}` "
                         f"(add --only NAME... for some variants)")
    return systems


def compare(systems: list[System], evaluation, resamples: int, seed: int) -> Comparison:
    """Every system against the full model, on every benchmark and image-gap column; over seeds when there are several."""
    ids = evaluated_ids(evaluation, systems[0].checkpoint, systems[0].replicates[0].read)  # the full model's questions
    gaps = controlled_benchmarks(evaluation, systems[0].checkpoint, systems[0].replicates[0].read)
    groups = benchmark_groups(evaluation) | {gap_column(name, "blank_image"): GAP_GROUP for name in gaps}

    per_seed = {s.name: [scores_with_gaps(evaluation, s.checkpoint, ids, gaps, r.read) for r in s.replicates]
                for s in systems}
    if len(systems[0].replicates) == 1:
        return compare_systems(FULL, {name: reps[0] for name, reps in per_seed.items()}, groups, resamples, seed)
    return compare_seeded(FULL, {name: {b: [rep[b] for rep in reps] for b in reps[0]} for name, reps in per_seed.items()},
                          groups)


def declarations_table(systems: list[System], comparison: Comparison) -> str:
    """Markdown: what each variant changed, its average change here, and the paper's for the same ablation."""
    lines = ["| variant | what changes | macro average change here (accuracy groups) | paper's average (full 61.8) |",
             "|---|---|---:|---:|"]
    groups = [g for g in comparison.groups if g != GAP_GROUP]
    for system in systems[1:]:
        change = ", ".join(f"`{k}={v}`" for k, v in system.variant.params.items()) or f"checkpoint `{system.checkpoint}`"
        deltas = [comparison.groups[g].deltas[system.name].delta for g in groups]
        here = sum(deltas) / len(deltas) if deltas else float("nan")
        paper = "" if system.variant.paper_average is None else f"{system.variant.paper_average:.1f}"
        lines.append(f"| {system.name} ({system.label}) | {change} | {here:+.1f} | {paper} |")
    return "\n".join(lines)


def baseline_intervals(comparison: Comparison) -> str:
    """Markdown: the full model's own scores over its seeds, with intervals over seeds and questions."""
    if not comparison.baseline_intervals:
        return ""
    cells = [f"{name} {s.score:.1f} [{s.ci_low:.1f}, {s.ci_high:.1f}]" for name, s in comparison.baseline_intervals.items()]
    return (f"The full model itself over its {comparison.n_seeds} seeds (mean [95% CI over seeds and questions]; "
            f"`/real-blank` columns are how much its answers depend on the image): " + "; ".join(cells) + ".")


def below_noise(comparison: Comparison, noise: dict | None) -> str:
    """The changes no larger than the full model's own seed-to-seed range on that column (metrics/noise_floor.json)."""
    if not noise:
        return ""
    floor = noise.get("checkpoints", {}).get("instruct", {})
    found = [f"{variant} on {name} ({result.deltas[variant].delta:+.1f} vs range {floor[name]['range']:.1f})"
             for name, result in comparison.benchmarks.items() if name in floor for variant in comparison.variants
             if abs(result.deltas[variant].delta) <= floor[name]["range"]]
    return (f"Below the noise floor — changes no larger than the spread of the full model's own score over "
            f"{noise['n_seeds']} seeds (reports/noise_floor.md): " + ("; ".join(found) or "none") + ".")


def write_outputs(repo: Path, systems: list[System], comparison: Comparison, out: dict[str, str],
                  noise: dict | None = None) -> dict[str, float]:
    from lingshu.report.charts import delta_chart

    metrics = to_metrics(comparison) | {"n_seeds": float(comparison.n_seeds)}
    atomic_write_json(repo / out["metrics"], metrics)
    atomic_write_csv(repo / out["plots_dir"] / "comparison.csv", to_rows(comparison))
    delta_chart(comparison, repo / out["plots_dir"] / "deltas.png")
    seeds = (f"over {comparison.n_seeds} training seeds per system (seed k of a variant paired with seed k of the "
             f"full model)" if comparison.n_seeds > 1 else
             "on one training seed: the intervals resample questions only and ignore training noise")
    text = "\n\n".join(filter(None, [
        "# Ablations",
        f"Each variant against the full model, paired on the same questions, {seeds} (rerun: "
        f"`lingshu ablate --seeds {comparison.n_seeds}`). Columns ending in `/{GAP_NAMES['blank_image']}` are the per-question "
        "difference between the real-image and the blank-image answer: how much the answers depend on the image.",
        to_markdown(comparison),
        baseline_intervals(comparison),
        below_noise(comparison, noise),
        declarations_table(systems, comparison),
        "![deltas](../plots/ablations/deltas.png)",
    ])) + "\n"
    atomic_write_bytes(repo / out["summary"], text.encode())
    return metrics


def log_summary_runs(repo: Path, systems: list[System], comparison: Comparison, tracking, outputs: list[Path]) -> None:
    """One MLflow run per system (replacing its earlier one) and one holding the report's files."""
    import mlflow

    from lingshu.tracking import git_commit, log_artifact, log_params, set_tags, use_experiment

    experiment = f"{tracking.experiment}-ablations"
    use_experiment(tracking, repo, experiment)
    metrics = to_metrics(comparison)
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    for system in systems:
        first = system.replicates[0]
        rev = first.finished.rev if first.finished else git_commit(repo)
        for old in client.search_runs([experiment_id], f"tags.`lingshu.variant` = '{system.name}'"):
            client.delete_run(old.info.run_id)
        params = yaml.safe_load(first.read("params.yaml")) or {}
        names = [r.finished.name if r.finished else "(workspace)" for r in system.replicates]
        tags = {"lingshu.variant": system.name, "lingshu.label": system.label, "lingshu.checkpoint": system.checkpoint,
                "lingshu.seeds": str(len(system.replicates)), "dvc.exp_name": ",".join(names),
                "dvc.baseline_rev": first.finished.baseline if first.finished else rev,
                "mlflow.source.git.commit": rev}
        with mlflow.start_run(run_name=system.name):
            set_tags(tags)
            log_params(flatten(params))
            evaluation = build_section("eval", params.get("eval"), f"{system.name}: params.yaml")  # as that system ran
            values = {}
            for replicate in system.replicates:
                suite = suite_scores(evaluation, system.checkpoint, replicate.read)
                prefix = "" if replicate.index == 0 else f"seed{replicate.index}/"
                values |= {f"{prefix}{b}/{k}": float(r[k]) for b, r in suite.items() for k in ("score", "ci_low", "ci_high")}
            mine = f"{system.name}/"
            values |= {k[len(mine):]: float(v) for k, v in metrics.items() if k.startswith(mine)}
            mlflow.log_metrics(values)
    with mlflow.start_run(run_name="ablation-report", tags={"lingshu.stage": "ablation-report"}):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for path in outputs:
            log_artifact(path)


def seed_flags(params_file: Path, keys: list[str], index: int) -> list[str]:
    """`-S key=value` raising each seed key by `index` from its value in params_file (replicate 0: none)."""
    from omegaconf import OmegaConf

    if index == 0:
        return []
    params = OmegaConf.load(params_file)
    flags = []
    for key in keys:
        value = OmegaConf.select(params, key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"report.seed_params names {key!r}, which is {value!r} in {params_file}, not an integer seed")
        flags += ["-S", f"{key}={value + index}"]
    return flags


def plan(variants: list[Variant], seeds: int, flags_of) -> list:
    """The experiments of `seeds` replicates, in run order: per replicate k >= 1 the full model's whole pipeline
    first (`full-seed<k>`), then every variant with the same seeds, which reuses its cached upstream stages."""
    from lingshu.report.experiments import Planned

    planned = []
    for index in range(seeds):
        if index:
            planned.append(Planned(replicate_name(FULL, index), flags_of(index), None))
        planned += [Planned(replicate_name(v.name, index), v.set_flags() + flags_of(index), v.target)
                    for v in variants if v.needs_run]
    return planned
