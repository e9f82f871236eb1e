"""The noise floor: how far the full model's scores move when nothing changes but the training seeds.

On this CPU a recipe retrained with other seeds (`report.seed_params`: training order, dropout, data
order, RL sampling) moves benchmark scores by several points — more than many effects an ablation is
after. `lingshu ablate --noise-floor N` (or `--seeds N`) retrains the full model N times and this module
summarises, per checkpoint and benchmark (and group average, and real − blank image gap), the spread of
the score across seeds: mean, SD, min, max, range. Training stages' held-out metrics get the same.
For the checkpoints the reports compare, it also gives the full model's own mean with a 95% interval over
seeds and questions (`seed_mean`, lingshu/stats/replicates.py), so "the answers depend on the image" is
claimed only where the interval of a real − blank gap excludes 0.
It is written to metrics/noise_floor.json and reports/noise_floor.md with a chart, logged to MLflow, and
read by the single-seed reports to say which of their changes are below it. An ablation over fewer seeds
keeps a committed floor over more seeds of the same recipe (`extends`) rather than shrinking it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lingshu.eval.controls import GAP_NAMES, gap_column
from lingshu.io import atomic_write_bytes, atomic_write_json
from lingshu.report.collect import controlled_benchmarks, evaluated_ids, scores_with_gaps
from lingshu.stats.replicates import seed_mean, spread


def _spread(values: list[float]) -> dict:
    return spread(values) | {"scores": [float(v) for v in values]}


def checkpoint_columns(suite: dict) -> dict[str, float]:
    """One suite file (metrics/eval/<checkpoint>.json) as column -> value: benchmark scores, group averages,
    and each image control's real − control gap."""
    out = {name: result["score"] for name, result in suite["benchmarks"].items()}
    for name, result in suite["benchmarks"].items():
        for control, c in result.get("controls", {}).items():
            out[gap_column(name, control)] = c["real_minus_control"]["delta"]
    return out | {f"group/{g}": v for g, v in suite["groups"].items()}


def measure(reads: list, metrics_dir: str, checkpoints: list[str], training_files: dict[str, str]) -> dict:
    """The spread over the replicates (one Reader each) of every checkpoint's columns and every training
    stage's held-out metrics (`training_files`: stage -> its metrics file)."""
    floor: dict = {"n_seeds": len(reads), "checkpoints": {}, "training": {}}
    for checkpoint in checkpoints:
        per_seed = [checkpoint_columns(json.loads(read(f"{metrics_dir}/{checkpoint}.json"))) for read in reads]
        columns = [c for c in per_seed[0] if all(c in seed for seed in per_seed)]
        floor["checkpoints"][checkpoint] = {c: _spread([seed[c] for seed in per_seed]) for c in columns}
    for stage, path in training_files.items():
        per_seed = [json.loads(read(path)) for read in reads]
        keys = [k for k in per_seed[0] if k.startswith(("heldout/", "vqa/", "vqa_image_types/", "rl/last_tenth/"))
                and not k.endswith(("/n", "_samples"))]
        floor["training"][stage] = {k: _spread([float(seed[k]) for seed in per_seed]) for k in keys}
    return floor


def intervals(reads: list, evaluation, checkpoints: list[str], level: float = 0.95) -> dict:
    """Checkpoint -> column (each benchmark, each real − blank gap) -> the mean over the replicates (one Reader
    each) with its interval over seeds and questions, read from the per-question predictions."""
    out = {}
    for checkpoint in checkpoints:
        ids = evaluated_ids(evaluation, checkpoint, reads[0])
        gaps = controlled_benchmarks(evaluation, checkpoint, reads[0])
        per_seed = [scores_with_gaps(evaluation, checkpoint, ids, gaps, read) for read in reads]
        out[checkpoint] = {column: _interval(seed_mean([seed[column] for seed in per_seed], level))
                           for column in per_seed[0]}
    return out


def _interval(score) -> dict:
    df = None if np.isnan(score.df) else float(score.df)  # no variance at all (every seed answered alike)
    return {"mean": score.score, "ci_low": score.ci_low, "ci_high": score.ci_high, "df": df, "n": score.n,
            "excludes_zero": bool(score.ci_low > 0 or score.ci_high < 0)}


def intervals_markdown(floor: dict) -> list[str]:
    """The full model's means with their intervals, a column per compared checkpoint (none before they were measured)."""
    per_checkpoint = floor.get("intervals") or {}
    if not per_checkpoint:
        return []
    checkpoints = list(per_checkpoint)
    columns = list(dict.fromkeys(c for per in per_checkpoint.values() for c in per))
    return (["", f"The full model's mean over the {floor['n_seeds']} seeds with a 95% interval over seeds and questions "
             "(t, Satterthwaite df; lingshu/stats/replicates.py), in % (points for real − blank gaps); * where a "
             "gap's interval excludes 0:", "", "| score | " + " | ".join(checkpoints) + " |",
             "|---" + "|---:" * len(checkpoints) + "|"]
            + [f"| {c} | " + " | ".join(interval_cell(c, per_checkpoint[k].get(c)) for k in checkpoints) + " |"
               for c in columns])


def interval_cell(column: str, value: dict | None) -> str:
    """`mean [low, high]`, starred for a real − blank gap whose interval excludes 0 (the only columns where 0
    means something: the answers do not depend on the image)."""
    if value is None:
        return ""
    star = "*" if is_gap_column(column) and value["excludes_zero"] else ""
    return f"{value['mean']:.1f} [{value['ci_low']:.1f}, {value['ci_high']:.1f}]{star}"


def is_gap_column(column: str) -> bool:
    """Whether a column is one `gap_column` names (a real − control difference)."""
    return column.rpartition("/")[2] in GAP_NAMES.values()



def to_markdown(floor: dict) -> str:
    lines = ["# Noise floor",
             f"The full model retrained with {floor['n_seeds']} seeds (`report.seed_params` raised by 0..{floor['n_seeds'] - 1}; "
             "same data, same code, same base model). Each cell: mean ± SD across seeds [min, max], in % (points for "
             "real − blank gaps). A change between two systems no larger than the range is below the noise floor. "
             "Rerun: `lingshu ablate --noise-floor N`.", ""]
    checkpoints = floor["checkpoints"]
    columns = list(dict.fromkeys(c for per in checkpoints.values() for c in per))
    lines += ["| checkpoint | " + " | ".join(columns) + " |", "|---" + "|---:" * len(columns) + "|"]
    for checkpoint, per in checkpoints.items():
        cells = [f"{per[c]['mean']:.1f} ± {per[c]['sd']:.1f} [{per[c]['min']:.1f}, {per[c]['max']:.1f}]" if c in per else ""
                 for c in columns]
        lines.append(f"| {checkpoint} | " + " | ".join(cells) + " |")
    lines += intervals_markdown(floor)
    if floor["training"]:
        lines += ["", "Held-out metrics of the training stages (fractions and nats, as in metrics/<stage>.json):", "",
                  "| stage | metric | mean ± SD [min, max] |", "|---|---|---:|"]
        for stage, per in floor["training"].items():
            lines += [f"| {stage} | {k} | {v['mean']:.3f} ± {v['sd']:.3f} [{v['min']:.3f}, {v['max']:.3f}] |"
                      for k, v in per.items()]
    return "\n".join(lines) + "\n\n![noise floor](../plots/noise_floor/seeds.png)\n"


def to_metrics(floor: dict) -> dict[str, float]:
    """Flat names for DVC and MLflow: `<checkpoint>/<column>/sd|range|mean` (and `ci_low|ci_high` where the interval
    was measured), `training/<stage>/<key>/sd|range|mean`."""
    out = {}
    for checkpoint, per in floor["checkpoints"].items():
        out |= {f"{checkpoint}/{c}/{k}": v[k] for c, v in per.items() for k in ("mean", "sd", "range")}
    for stage, per in floor["training"].items():
        out |= {f"training/{stage}/{key}/{k}": v[k] for key, v in per.items() for k in ("mean", "sd", "range")}
    for checkpoint, per in (floor.get("intervals") or {}).items():
        out |= {f"{checkpoint}/{c}/{k}": v[k] for c, v in per.items() for k in ("ci_low", "ci_high")}
    return out


def chart(floor: dict, path: Path) -> Path:
    """Per checkpoint, every seed's score on every benchmark (dots) and their mean (line)."""
    from lingshu.report.charts import _new_figure, _write_png

    checkpoints = list(floor["checkpoints"])
    columns = [c for c in floor["checkpoints"][checkpoints[-1]] if not c.startswith("group/")]
    figure = _new_figure(width=max(7.0, 1.4 * len(checkpoints) + 4), height=5.0)
    axes = figure.add_subplot()
    positions = np.arange(len(checkpoints))
    for index, column in enumerate(columns):
        color = f"C{index % 10}"
        offset = (index - (len(columns) - 1) / 2) * 0.06
        means = [floor["checkpoints"][c].get(column, {}).get("mean", np.nan) for c in checkpoints]
        axes.plot(positions + offset, means, color=color, label=column, linewidth=1)
        for position, c in zip(positions, checkpoints):
            scores = floor["checkpoints"][c].get(column, {}).get("scores", [])
            axes.scatter([position + offset] * len(scores), scores, color=color, s=14)
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.set_xticks(positions, checkpoints)
    axes.set_ylabel("score (%) / gap (points)")
    axes.set_title(f"The same recipe over {floor['n_seeds']} training seeds: every dot is one seed")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="best", fontsize="x-small", frameon=False, ncol=2)
    return _write_png(figure, path)


OUTPUTS = {"metrics": "metrics/noise_floor.json", "summary": "reports/noise_floor.md",
           "chart": "plots/noise_floor/seeds.png"}


def _per_seed_scores(floor: dict) -> dict[tuple[str, str, str], list[float]]:
    return {(part, where, column): spread_of["scores"] for part in ("checkpoints", "training")
            for where, columns in floor.get(part, {}).items() for column, spread_of in columns.items()}


def extends(committed: dict | None, measured: dict) -> bool:
    """Whether `committed` is the same recipe's floor over more seeds than `measured`: its first seeds scored
    exactly what `measured` did on every column (same code, data and machine give byte-identical runs), so
    it is the better measurement. Any difference (another recipe, another machine) makes it stale."""
    if not committed or committed.get("n_seeds", 0) <= measured["n_seeds"]:
        return False
    old, new = _per_seed_scores(committed), _per_seed_scores(measured)
    return bool(new) and all(key in old and old[key][:len(scores)] == scores for key, scores in new.items())


def committed(repo: Path) -> dict | None:
    """The noise floor last written to metrics/noise_floor.json, or None before any was measured."""
    path = repo / OUTPUTS["metrics"]
    return json.loads(path.read_text()) if path.exists() else None


def written_files(repo: Path) -> list[Path]:
    """The files `write` makes, in the order MLflow logs them."""
    return [repo / OUTPUTS[k] for k in ("metrics", "summary", "chart")]


def write(repo: Path, floor: dict) -> list[Path]:
    atomic_write_json(repo / OUTPUTS["metrics"], floor)
    atomic_write_bytes(repo / OUTPUTS["summary"], to_markdown(floor).encode())
    chart(floor, repo / OUTPUTS["chart"])
    return written_files(repo)


def log_run(floor: dict, tracking, repo: Path, files: list[Path]) -> None:
    import mlflow

    from lingshu.tracking import log_artifact, use_experiment

    use_experiment(tracking, repo, f"{tracking.experiment}-ablations")
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name(f"{tracking.experiment}-ablations").experiment_id
    for old in client.search_runs([experiment_id], "tags.`lingshu.stage` = 'noise-floor'"):
        client.delete_run(old.info.run_id)
    with mlflow.start_run(run_name="noise-floor", tags={"lingshu.stage": "noise-floor",
                                                        "lingshu.seeds": str(floor["n_seeds"])}):
        mlflow.log_metrics({f"noise_floor/{k}": float(v) for k, v in to_metrics(floor).items()})
        for path in files:
            log_artifact(path)
