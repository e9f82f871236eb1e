"""The ablation table: every system against one baseline, per benchmark and per group, on the same questions.

Like the Lingshu paper's ablation table, it answers "what did each stage or data mix change?" — but at a
few hundred questions per benchmark a one-point move is often noise, so every variant cell carries its
paired delta and bootstrap interval (`paired.py`), and each group column the macro average with an
interval that resamples every member benchmark's questions. One `Comparison` feeds three outputs: a
Markdown table for reports/, flat metric names for MLflow and DVC, and CSV rows for plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

from lingshu.stats.paired import (PairedDelta, aligned_scores, paired_bootstrap, percentile_interval,
                                   resampled_mean_deltas)
from lingshu.stats.replicates import SeedDelta, SeedScore, group_seed_delta, seed_delta, seed_mean

QuestionScores = Mapping[str, float]  # question id -> score (0/1, or ROUGE-L for reports)
SystemScores = Mapping[str, Mapping[str, QuestionScores]]  # system -> benchmark -> question scores
SeededScores = Mapping[str, Mapping[str, Sequence[QuestionScores]]]  # system -> benchmark -> one per seed
Delta = Union[PairedDelta, SeedDelta]  # both carry delta, ci_low, ci_high, n, significant
QUESTION_ONLY = "paired bootstrap CI over questions"


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark's column: each system's score and each variant's paired delta vs the baseline."""

    benchmark: str
    group: str
    n: int  # questions, the same for every system
    scores: dict[str, float]  # system -> mean score (%), baseline included
    deltas: dict[str, Delta]  # variant -> delta vs the baseline


@dataclass(frozen=True)
class GroupResult:
    """One group's column: macro averages over its benchmarks, and each variant's macro delta."""

    group: str
    benchmarks: list[str]
    scores: dict[str, float]  # system -> mean of its member benchmark scores (%)
    deltas: dict[str, Delta]  # variant -> macro delta; n counts the questions of all members


@dataclass(frozen=True)
class Comparison:
    baseline: str
    systems: list[str]  # baseline first, then the variants in the order given
    benchmarks: dict[str, BenchmarkResult]
    groups: dict[str, GroupResult]
    level: float  # confidence level of every interval
    method: str = QUESTION_ONLY  # what the intervals account for, as the legend says it
    n_seeds: int = 1
    baseline_intervals: dict[str, SeedScore] = field(default_factory=dict)  # over seeds and questions, seeded only

    @property
    def variants(self) -> list[str]:
        return self.systems[1:]


def compare_systems(baseline: str, systems: SystemScores, groups: Mapping[str, str], resamples: int = 2000,
                    seed: int = 0, level: float = 0.95) -> Comparison:
    """Compare every system with `baseline` on each benchmark and each group (`groups`: benchmark -> group).

    Every system must have the same benchmarks, and on each benchmark the same questions; `groups` may
    name more benchmarks than are compared, but not fewer.
    """
    if baseline not in systems:
        raise ValueError(f"baseline {baseline!r} is not among the systems {list(systems)}")
    benchmarks = list(systems[baseline])
    _check_same_benchmarks(baseline, systems)
    ungrouped = [name for name in benchmarks if name not in groups]
    if ungrouped:
        raise ValueError(f"benchmarks without a group: {ungrouped}")
    variants = [name for name in systems if name != baseline]
    per_benchmark = {name: _compare_benchmark(name, groups[name], baseline, variants, systems, resamples, seed, level)
                     for name in benchmarks}
    members: dict[str, list[str]] = {}
    for name in benchmarks:
        members.setdefault(groups[name], []).append(name)
    per_group = {group: _compare_group(group, names, baseline, variants, systems, per_benchmark, resamples, seed,
                                       level)
                 for group, names in members.items()}
    return Comparison(baseline=baseline, systems=[baseline, *variants], benchmarks=per_benchmark, groups=per_group,
                      level=level)


def compare_seeded(baseline: str, systems: SeededScores, groups: Mapping[str, str], level: float = 0.95) -> Comparison:
    """As `compare_systems`, over several training seeds per system (seed i of each system paired with seed i
    of the baseline): every interval counts seed variance and question sampling (lingshu.stats.replicates)."""
    if baseline not in systems:
        raise ValueError(f"baseline {baseline!r} is not among the systems {list(systems)}")
    _check_same_benchmarks(baseline, systems)
    benchmarks = list(systems[baseline])
    seed_counts = {(name, b): len(per_seed) for name, per in systems.items() for b, per_seed in per.items()}
    if len(set(seed_counts.values())) != 1:
        raise ValueError(f"every system needs the same seeds on every benchmark, got {seed_counts}")
    ungrouped = [name for name in benchmarks if name not in groups]
    if ungrouped:
        raise ValueError(f"benchmarks without a group: {ungrouped}")
    variants = [name for name in systems if name != baseline]
    per_benchmark = {}
    for name in benchmarks:
        reference = systems[baseline][name]
        deltas = {}
        for variant in variants:
            try:
                deltas[variant] = seed_delta(reference, systems[variant][name], level)
            except ValueError as exc:
                raise ValueError(f"{name}: {variant} vs {baseline}: {exc}") from exc
        scores = {baseline: 100 * float(np.mean([np.mean(list(s.values())) for s in reference]))}
        per_benchmark[name] = BenchmarkResult(name, groups[name], len(reference[0]),
                                              scores | {v: d.variant for v, d in deltas.items()}, deltas)
    members: dict[str, list[str]] = {}
    for name in benchmarks:
        members.setdefault(groups[name], []).append(name)
    per_group = {}
    for group, names in members.items():
        deltas = {v: group_seed_delta({b: (systems[baseline][b], systems[v][b]) for b in names}, level)
                  for v in variants}
        scores = {system: float(np.mean([per_benchmark[b].scores[system] for b in names]))
                  for system in [baseline, *variants]}
        per_group[group] = GroupResult(group, names, scores, deltas)
    n_seeds = next(iter(seed_counts.values()))
    return Comparison(baseline=baseline, systems=[baseline, *variants], benchmarks=per_benchmark, groups=per_group,
                      level=level, method=f"CI over {n_seeds} training seeds and the questions (t, Satterthwaite df)",
                      n_seeds=n_seeds,
                      baseline_intervals={name: seed_mean(systems[baseline][name], level) for name in benchmarks})


def _check_same_benchmarks(baseline: str, systems: SystemScores) -> None:
    expected = set(systems[baseline])
    for name, per_benchmark in systems.items():
        missing, extra = sorted(expected - set(per_benchmark)), sorted(set(per_benchmark) - expected)
        if missing or extra:
            raise ValueError(f"system {name!r} must have the baseline's benchmarks: missing {missing}, extra {extra}")


def _compare_benchmark(benchmark: str, group: str, baseline: str, variants: list[str], systems: SystemScores,
                       resamples: int, seed: int, level: float) -> BenchmarkResult:
    reference = systems[baseline][benchmark]
    deltas = {}
    for variant in variants:
        try:
            deltas[variant] = paired_bootstrap(reference, systems[variant][benchmark], resamples, seed, level)
        except ValueError as exc:
            raise ValueError(f"{benchmark}: {variant} vs {baseline}: {exc}") from exc
    scores = {baseline: 100 * float(np.mean(list(reference.values()))) if reference else float("nan")}
    scores |= {variant: delta.variant for variant, delta in deltas.items()}
    return BenchmarkResult(benchmark=benchmark, group=group, n=len(reference), scores=scores, deltas=deltas)


def _compare_group(group: str, members: list[str], baseline: str, variants: list[str], systems: SystemScores,
                   per_benchmark: dict[str, BenchmarkResult], resamples: int, seed: int,
                   level: float) -> GroupResult:
    """Macro averages; each bootstrap round resamples every member's questions and averages the deltas.

    Each variant's draws come from a generator seeded alike, so all variants see the same resampled
    questions, and a group of one benchmark reproduces that benchmark's interval exactly.
    """
    scores = {system: float(np.mean([per_benchmark[name].scores[system] for name in members]))
              for system in [baseline, *variants]}
    deltas = {}
    for variant in variants:
        rng = np.random.default_rng(seed)
        rounds = np.zeros(resamples)
        for name in members:
            reference, candidate = aligned_scores(systems[baseline][name], systems[variant][name])
            rounds += resampled_mean_deltas(candidate - reference, rng, resamples)
        low, high = percentile_interval(rounds / len(members), level)
        deltas[variant] = PairedDelta.from_interval(scores[baseline], scores[variant], low, high,
                                                    sum(per_benchmark[name].n for name in members))
    return GroupResult(group=group, benchmarks=members, scores=scores, deltas=deltas)


def _signed(value: float) -> str:
    """One decimal with an explicit sign and a typographic minus; never prints "-0.0"."""
    rounded = round(value, 1) + 0.0
    return f"{rounded:+.1f}".replace("-", "\u2212")


def _cell(score: float, delta: Delta | None) -> str:
    if delta is None:
        return f"{score:.1f}"
    mark = "*" if delta.significant else ""
    return f"{score:.1f} ({_signed(delta.delta)} [{_signed(delta.ci_low)}, {_signed(delta.ci_high)}]){mark}"


def _columns(comparison: Comparison) -> list[tuple[str, BenchmarkResult | GroupResult]]:
    """(header, result) per table column: benchmarks first, then group macro averages."""
    return ([(name, result) for name, result in comparison.benchmarks.items()]
            + [(f"{name} (avg)", result) for name, result in comparison.groups.items()])


def to_markdown(comparison: Comparison) -> str:
    """Rows = systems (baseline first), columns = benchmarks then group averages, with a legend below."""
    columns = _columns(comparison)
    lines = ["| system | " + " | ".join(header for header, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for system in comparison.systems:
        cells = [_cell(result.scores[system], result.deltas.get(system)) for _, result in columns]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    questions = ", ".join(f"{name} {result.n}" for name, result in comparison.benchmarks.items())
    members = "; ".join(f"{name} = {', '.join(result.benchmarks)}" for name, result in comparison.groups.items())
    lines += ["", f"Scores in %. In parentheses: change vs {comparison.baseline} in percentage points "
                  f"[{comparison.level:.0%} {comparison.method}]; * = the CI excludes 0. "
                  f"Group columns are macro averages ({members}). Questions per benchmark: {questions}."]
    return "\n".join(lines) + "\n"


def to_metrics(comparison: Comparison) -> dict[str, float]:
    """Flat names for MLflow/DVC: `<system>/<benchmark>/score|delta|ci_low|ci_high|significant`,
    and the same under `<system>/group/<group>/`; the baseline has scores (and over seeds its own ci_low/ci_high)."""
    metrics: dict[str, float] = {}
    prefixed = ([(name, result) for name, result in comparison.benchmarks.items()]
                + [(f"group/{name}", result) for name, result in comparison.groups.items()])
    for prefix, result in prefixed:
        interval = comparison.baseline_intervals.get(prefix)
        if interval is not None:  # the baseline's own score over seeds and questions
            metrics |= {f"{comparison.baseline}/{prefix}/ci_low": interval.ci_low,
                        f"{comparison.baseline}/{prefix}/ci_high": interval.ci_high}
        for system in comparison.systems:
            metrics[f"{system}/{prefix}/score"] = result.scores[system]
            delta = result.deltas.get(system)
            if delta is not None:
                metrics |= {f"{system}/{prefix}/delta": delta.delta, f"{system}/{prefix}/ci_low": delta.ci_low,
                            f"{system}/{prefix}/ci_high": delta.ci_high,
                            f"{system}/{prefix}/significant": float(delta.significant)}
    return metrics


def to_rows(comparison: Comparison) -> list[dict]:
    """One CSV row per (system, benchmark); the baseline's delta columns are empty."""
    rows = []
    for system in comparison.systems:
        for name, result in comparison.benchmarks.items():
            delta = result.deltas.get(system)
            rows.append({"system": system, "benchmark": name, "score": result.scores[system],
                         "delta": delta.delta if delta else None, "ci_low": delta.ci_low if delta else None,
                         "ci_high": delta.ci_high if delta else None,
                         "significant": delta.significant if delta else None})
    return rows
