"""Scores and deltas over several training seeds: intervals that count training noise and question sampling.

On this project the same recipe trained with another seed moves a benchmark score by several points,
often more than the effect an ablation is looking for. `lingshu.stats.paired.paired_bootstrap` resamples
the questions of one seed's run, so its interval answers "would this checkpoint win again on other
questions?", not "would this recipe win again if trained again?": it is blind to training variance and
covers the recipe-level delta far less often than its nominal level once seeds matter.

With N seeds of each system (seed s of the variant and seed s of the baseline share upstream training, so
they are paired) on the same Q questions, let D[s, q] = variant[s, q] - baseline[s, q]. The delta is the
mean of D. D is a seeds x questions table, and the variance of its mean over the populations of seeds
and questions is sigma_seed^2 / N + sigma_question^2 / Q + sigma_residual^2 / (N Q). Each piece is
estimated from the table's two-way analysis of variance, as a variance of the mean:

- seed term: the variance (ddof=1) across seeds of the per-seed deltas (D averaged over questions), / N;
- question term: the variance (ddof=1) across questions of D averaged over seeds, / Q;
- residual term: the mean square of D minus its seed and question means, / (N Q).

The seed and question terms each also carry the residual once, so it is subtracted from each (a
component estimated below 0 counts as 0) and counted once: V = (seed - residual)+ + (question -
residual)+ + residual. The interval is delta +- t * sqrt(V), with Student's t at the Welch-Satterthwaite
degrees of freedom of that combination (N - 1, Q - 1 and (N - 1)(Q - 1) for the three mean squares). Not
subtracting the residual would count it twice; for 0/1 scores each answer's coin flip makes it large,
and a nominal 95% interval would cover about 0.985 of the time (tests/test_replicates.py measured both).
With 3 seeds and seed-dominated variance the degrees of freedom fall toward 2, where t is 4.3 instead
of 1.96: the intervals are wide because three training runs say little about training noise.

A group's macro delta (mean of its benchmarks' deltas) uses the same construction: the seed term comes
from the per-seed macro deltas, and each benchmark adds its own question term divided by B^2. A single
system's score over seeds (`seed_mean`) applies the formula to its scores instead of a difference.
Inputs are per-question scores in [-1, 1] (0/1 accuracy, ROUGE-L, or a per-question difference such as
real − blank image); results are percentages and deltas
percentage points. One seed is the question-only case: use `paired_bootstrap`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

SeedScores = Sequence[Mapping[str, float]]  # one mapping question id -> score per seed, seeds in training order


@dataclass(frozen=True)
class SeedDelta:
    """Variant minus baseline over seeds and questions, with an interval that counts both (percentage points)."""

    baseline: float  # baseline's mean score over seeds and questions (%)
    variant: float  # variant's mean score over the same seeds and questions (%)
    delta: float  # variant - baseline (percentage points)
    ci_low: float  # lower end of the delta's t interval (percentage points)
    ci_high: float  # upper end of the delta's t interval (percentage points)
    n_seeds: int  # paired seeds compared
    n: int  # questions per seed (for a group, summed over its benchmarks)
    seed_sd: float  # standard deviation across seeds of the per-seed deltas (percentage points)
    seed_se: float  # square root of the seed term of the delta's variance (percentage points)
    question_se: float  # square root of the question term (percentage points)
    df: float  # Welch-Satterthwaite degrees of freedom of the interval (NaN when there is no variance)
    significant: bool  # the interval excludes 0


@dataclass(frozen=True)
class SeedScore:
    """One system's mean score over seeds and questions, with an interval that counts both (%)."""

    score: float  # mean over seeds and questions (%)
    ci_low: float  # lower end of the t interval (%); not clipped to [0, 100]
    ci_high: float  # upper end of the t interval (%)
    n_seeds: int
    n: int  # questions per seed
    seed_sd: float  # standard deviation across seeds of the per-seed scores (%)
    df: float  # Welch-Satterthwaite degrees of freedom (NaN when there is no variance)


def seed_delta(baseline: SeedScores, variant: SeedScores, level: float = 0.95) -> SeedDelta:
    """Delta of `variant` over `baseline` on one benchmark; seed i of each system is paired with the other's."""
    baseline_matrix, variant_matrix = _paired_matrices(baseline, variant)
    differences = variant_matrix - baseline_matrix
    per_seed = differences.mean(axis=1)
    return _delta_result(100 * float(baseline_matrix.mean()), 100 * float(variant_matrix.mean()), per_seed,
                         [_pieces(differences)], differences.shape[1], level)


def group_seed_delta(members: Mapping[str, tuple[SeedScores, SeedScores]], level: float = 0.95) -> SeedDelta:
    """Macro-average delta over a group of benchmarks (name -> (baseline seeds, variant seeds)).

    Every benchmark must have the same number of seeds, in the same order: seed i is one trained model
    evaluated on every member. Benchmarks weigh equally whatever their number of questions.
    """
    if not members:
        raise ValueError("a group needs at least one benchmark, got none")
    differences: dict[str, np.ndarray] = {}
    baseline_means: list[float] = []
    variant_means: list[float] = []
    for name, (baseline, variant) in members.items():
        try:
            baseline_matrix, variant_matrix = _paired_matrices(baseline, variant)
        except ValueError as error:
            raise ValueError(f"benchmark {name!r}: {error}") from error
        differences[name] = variant_matrix - baseline_matrix
        baseline_means.append(float(baseline_matrix.mean()))
        variant_means.append(float(variant_matrix.mean()))
    seed_counts = {name: matrix.shape[0] for name, matrix in differences.items()}
    if len(set(seed_counts.values())) > 1:
        raise ValueError(f"every benchmark of a group needs the same seeds, got seed counts {seed_counts}")
    per_seed = np.mean([matrix.mean(axis=1) for matrix in differences.values()], axis=0)
    return _delta_result(100 * float(np.mean(baseline_means)), 100 * float(np.mean(variant_means)), per_seed,
                         [_pieces(matrix) for matrix in differences.values()],
                         sum(matrix.shape[1] for matrix in differences.values()), level)


def seed_mean(system: SeedScores, level: float = 0.95) -> SeedScore:
    """One system's score over seeds, e.g. "full model 31.2 [27.0, 35.4] over 3 seeds"."""
    matrix = _score_matrix(system, "system")
    per_seed = matrix.mean(axis=1)
    terms, _ = _combined(_seed_variance(per_seed), [_pieces(matrix)])
    low, high, df = _t_interval(float(matrix.mean()), terms, level)
    return SeedScore(score=100 * float(matrix.mean()), ci_low=100 * low, ci_high=100 * high,
                     n_seeds=matrix.shape[0], n=matrix.shape[1], seed_sd=100 * float(np.std(per_seed, ddof=1)),
                     df=df)


def spread(values: Sequence[float]) -> dict[str, float | int]:
    """The noise floor: how far one score (%) moves across seeds of the same recipe."""
    scores = np.asarray(values, dtype=float)
    if scores.ndim != 1 or len(scores) < 2:
        raise ValueError(f"spread needs one score per seed and at least 2 seeds, got {scores.size}")
    return {"mean": float(scores.mean()), "sd": float(scores.std(ddof=1)), "min": float(scores.min()),
            "max": float(scores.max()), "range": float(scores.max() - scores.min()), "n_seeds": len(scores)}


def _paired_matrices(baseline: SeedScores, variant: SeedScores) -> tuple[np.ndarray, np.ndarray]:
    """Both systems' scores as (seeds, questions) arrays in the baseline's first-seed question order."""
    if len(baseline) != len(variant):
        raise ValueError(f"seeds are paired, but the baseline has {len(baseline)} seeds and the variant "
                         f"{len(variant)}: every variant seed needs the baseline seed trained with it")
    baseline_matrix = _score_matrix(baseline, "baseline")
    order = list(baseline[0])
    return baseline_matrix, _score_matrix(variant, "variant", order)


def _score_matrix(seeds: SeedScores, system: str, order: list[str] | None = None) -> np.ndarray:
    """(seeds, questions) scores in `order` (default: the first seed's); every seed needs the same question ids."""
    if len(seeds) < 2:
        raise ValueError(f"the {system} has {len(seeds)} seed(s); an interval over seeds needs at least 2 "
                         f"(for one seed use lingshu.stats.paired.paired_bootstrap, questions only)")
    order = list(seeds[0]) if order is None else order
    if not order:
        raise ValueError(f"the {system}'s seeds have no questions")
    expected = set(order)
    for index, scores in enumerate(seeds):
        if set(scores) != expected:
            missing, extra = sorted(expected - set(scores)), sorted(set(scores) - expected)
            raise ValueError(
                f"every seed must answer the same questions: {system} seed {index} has {len(scores)} "
                f"question ids against {len(expected)} expected; {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(extra)} unexpected (e.g. {extra[:3]})")
    matrix = np.array([[scores[question] for question in order] for scores in seeds], dtype=float)
    outside = matrix[~((matrix >= -1) & (matrix <= 1))]  # NaN included
    if outside.size:
        raise ValueError(f"the {system}'s scores must be in [-1, 1] (fractions, not percentages); "
                         f"{outside.size} are not, e.g. {outside[:3].tolist()}")
    return matrix


@dataclass(frozen=True)
class _Pieces:
    """One benchmark's question and residual variance-of-the-mean estimates, each with its degrees of freedom."""

    question: float
    question_df: int
    residual: float
    residual_df: int


def _pieces(matrix: np.ndarray) -> _Pieces:
    """The question and residual terms of a (seeds, questions) table's two-way analysis of variance."""
    seeds, questions = matrix.shape
    if questions < 2:  # one question: nothing to estimate question sampling from; the terms are dropped
        return _Pieces(0.0, 0, 0.0, 0)
    seed_means, question_means = matrix.mean(axis=1), matrix.mean(axis=0)
    residuals = matrix - seed_means[:, None] - question_means[None, :] + matrix.mean()
    residual_df = (seeds - 1) * (questions - 1)
    return _Pieces(float(np.var(question_means, ddof=1)) / questions, questions - 1,
                   float((residuals**2).sum()) / residual_df / (seeds * questions), residual_df)


def _seed_variance(per_seed: np.ndarray) -> tuple[float, int]:
    """Variance of the mean across seeds (ddof=1), with its N - 1 degrees of freedom."""
    return float(np.var(per_seed, ddof=1)) / len(per_seed), len(per_seed) - 1


def _combined(seed: tuple[float, int], members: list[_Pieces]) -> tuple[list[tuple[float, int]], float]:
    """(signed contribution, df) of each mean square to V, and the seed component, for a macro average of members.

    Each member weighs 1/B. The seed term (from the per-seed macro deltas) and each member's question term
    carry the residuals once each: each has them subtracted, unless that leaves it below 0, in which case
    its component counts as 0 and it drops out; every residual then counts exactly once in V.
    """
    weight = 1 / len(members) ** 2
    residual_total = sum(m.residual for m in members) * weight
    seed_on = seed[0] > residual_total
    terms = [(seed[0], seed[1])] if seed_on else []
    for member in members:
        question_on = member.question > member.residual
        if question_on:
            terms.append((member.question * weight, member.question_df))
        residual_coefficient = 1 - int(seed_on) - int(question_on)
        terms.append((residual_coefficient * member.residual * weight, member.residual_df))
    return terms, (seed[0] - residual_total if seed_on else 0.0)


def _t_interval(center: float, terms: Sequence[tuple[float, float]], level: float) -> tuple[float, float, float]:
    """center +- t * sqrt(V), V the sum of signed (contribution, df) terms, at their Welch-Satterthwaite df.

    Terms contributing nothing, or with zero degrees of freedom, are dropped; with no variance left the
    interval is the point itself and df is NaN.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    kept = [(value, df) for value, df in terms if value != 0 and df > 0]
    total = sum(value for value, _ in kept)
    if total <= 0:
        return center, center, math.nan
    df = 1 / sum((value / total) ** 2 / df for value, df in kept)  # V^2 / sum(v^2 / df), scaled by V
    half_width = float(stats.t.ppf((1 + level) / 2, df)) * math.sqrt(total)
    return center - half_width, center + half_width, float(df)


def _delta_result(baseline: float, variant: float, per_seed: np.ndarray, members: list[_Pieces], questions: int,
                  level: float) -> SeedDelta:
    delta = float(per_seed.mean())
    terms, seed_component = _combined(_seed_variance(per_seed), members)
    low, high, df = _t_interval(delta, terms, level)
    total = max(sum(value for value, _ in terms), 0.0)
    return SeedDelta(baseline=baseline, variant=variant, delta=100 * delta, ci_low=100 * low, ci_high=100 * high,
                     n_seeds=len(per_seed), n=questions, seed_sd=100 * float(np.std(per_seed, ddof=1)),
                     seed_se=100 * math.sqrt(seed_component),
                     question_se=100 * math.sqrt(max(total - seed_component, 0.0)),
                     df=df, significant=bool(low > 0 or high < 0))
