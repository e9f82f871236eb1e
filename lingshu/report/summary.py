"""The pipeline's own report (stage `report`): every benchmark through the checkpoints, whether the model
uses its images, and the configured comparison (RL vs SFT by default) question by question.

One seed gives one run: its intervals are over questions only and say nothing of training noise, which on
the embedded default is larger than most effects. When a noise floor has been measured
(`lingshu ablate --noise-floor N`, metrics/noise_floor.json), the report shows each benchmark's
seed-to-seed spread beside it and marks the changes smaller than that spread; the seed-aware comparison
of systems is `lingshu ablate --seeds N` (reports/ablations.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lingshu.report.collect import benchmark_groups, evaluated_ids, question_scores, suite_scores, workspace
from lingshu.report.compare import Comparison, compare_systems, to_markdown, to_metrics, to_rows


@dataclass
class PipelineReport:
    markdown: str
    metrics: dict[str, float]
    suites: dict[str, dict]  # checkpoint -> benchmark -> summary (scores, CIs, controls)
    comparison: Comparison


def progression_table(scores: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per checkpoint, one column per benchmark (score [CI])."""
    benchmarks = list(next(iter(scores.values())))
    lines = ["| checkpoint | " + " | ".join(benchmarks) + " |", "|---" * (len(benchmarks) + 1) + "|"]
    for checkpoint, results in scores.items():
        cells = [f"{results[b]['score']:.1f} [{results[b]['ci_low']:.1f}, {results[b]['ci_high']:.1f}]" for b in benchmarks]
        lines.append(f"| {checkpoint} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def image_gap_table(scores: dict[str, dict[str, dict]], control: str = "blank_image") -> str:
    """Markdown: per checkpoint and benchmark with images, real vs `control` and the paired difference."""
    benchmarks = [b for b in next(iter(scores.values())) if control in next(iter(scores.values()))[b].get("controls", {})]
    if not benchmarks:
        return ""
    lines = ["| checkpoint | " + " | ".join(f"{b}: real / blank, real − blank [95% CI]" for b in benchmarks) + " |",
             "|---" * (len(benchmarks) + 1) + "|"]
    for checkpoint, results in scores.items():
        cells = []
        for b in benchmarks:
            c = results[b]["controls"][control]
            gap = c["real_minus_control"]
            mark = "*" if gap["significant"] else ""
            cells.append(f"{results[b]['score']:.1f} / {c['score']:.1f}, {gap['delta']:+.1f} "
                         f"[{gap['ci_low']:+.1f}, {gap['ci_high']:+.1f}]{mark}")
        lines.append(f"| {checkpoint} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def image_gap_metrics(scores: dict[str, dict[str, dict]], control: str = "blank_image") -> dict[str, float]:
    out = {}
    for checkpoint, results in scores.items():
        for b, result in results.items():
            gap = result.get("controls", {}).get(control, {}).get("real_minus_control")
            if gap:
                out |= {f"image_gap/{checkpoint}/{b}/{k}": float(gap[k]) for k in ("delta", "ci_low", "ci_high")}
    return out


def noise_floor_note(noise: dict | None, comparison: Comparison) -> str:
    """The seed-to-seed range of the baseline checkpoint's scores, and which changes fall inside it."""
    if not noise:
        return ("One seed: these intervals resample questions only and ignore training noise. Measure it with "
                "`lingshu ablate --noise-floor 3`; compare systems over seeds with `lingshu ablate --seeds 3`.")
    floor = noise.get("checkpoints", {}).get(comparison.baseline, {})
    rows = []
    for name, result in comparison.benchmarks.items():
        spread = floor.get(name)
        if not spread:
            continue
        inside = [v for v, d in result.deltas.items() if abs(d.delta) <= spread["range"]]
        rows.append(f"| {name} | {spread['sd']:.1f} | {spread['min']:.1f}–{spread['max']:.1f} | "
                    f"{', '.join(inside) or '—'} |")
    header = (f"One seed: the intervals above resample questions only. The noise floor below is the spread of "
              f"{comparison.baseline}'s score over {noise.get('n_seeds', '?')} training seeds of the full model "
              f"(metrics/noise_floor.json); a change no larger than that range is below the noise floor.\n\n"
              f"| benchmark | SD across seeds (pp) | range | changes within the range |\n|---|---:|---:|---|")
    return header + ("\n" + "\n".join(rows) if rows else "")


def build(cfg, evaluation, repo: Path) -> PipelineReport:
    """The report of the workspace's checkpoints under `cfg` (report params) and `evaluation` (eval params)."""
    read = workspace(repo)
    suites = {c: suite_scores(evaluation, c, read) for c in cfg.checkpoints}
    ids = evaluated_ids(evaluation, cfg.baseline, read)
    systems = {c: question_scores(evaluation, c, ids, read) for c in [cfg.baseline, *cfg.compare]}
    comparison = compare_systems(cfg.baseline, systems, benchmark_groups(evaluation), cfg.resamples, cfg.seed)
    noise_path = repo / cfg.noise_floor
    noise = json.loads(noise_path.read_text()) if cfg.noise_floor and noise_path.exists() else None
    gaps = image_gap_table(suites)
    sections = [
        "# Pipeline report",
        f"## Stage progression\n\nAccuracy (%) with 95% bootstrap CIs, {evaluation.limit or 'all'} questions per "
        "benchmark at most.\n\n" + progression_table(suites) + "\n\n![progression](../plots/report/progression.png)",
    ]
    if gaps:
        sections.append("## Does the model use its images?\n\nEach benchmark with images answered again with every "
                        "image replaced by a black one of the same size; real − blank is paired on the same "
                        "questions (95% bootstrap CI over questions, * = excludes 0).\n\n" + gaps)
    sections.append(f"## {', '.join(cfg.compare)} vs {cfg.baseline}\n\nPaired on the same questions.\n\n"
                    + to_markdown(comparison) + "\n\n" + noise_floor_note(noise, comparison)
                    + "\n\n![deltas](../plots/report/deltas.png)")
    metrics = to_metrics(comparison) | image_gap_metrics(suites)
    return PipelineReport("\n\n".join(sections) + "\n", metrics, suites, comparison)


def write(report: PipelineReport, cfg, repo: Path) -> list[Path]:
    """reports/summary.md, metrics/report.json and plots/report/*; returns the files written."""
    from lingshu.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
    from lingshu.report.charts import delta_chart, progression_chart

    plots = repo / cfg.plots_dir
    written = [progression_chart(report.suites, plots / "progression.png"),
               delta_chart(report.comparison, plots / "deltas.png")]
    atomic_write_csv(plots / "comparison.csv", to_rows(report.comparison))
    atomic_write_json(repo / cfg.metrics_file, report.metrics)
    atomic_write_bytes(repo / cfg.summary_file, report.markdown.encode())
    return written + [plots / "comparison.csv", repo / cfg.metrics_file, repo / cfg.summary_file]
