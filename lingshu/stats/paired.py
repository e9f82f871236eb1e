"""Paired comparison of two systems on the same questions: per-question scores and a bootstrapped delta.

Two checkpoints evaluated on one benchmark answer the same questions, and much of the spread in each
score comes from which questions happen to be hard. Two independent intervals (`mean_with_ci` per
system) ignore that shared difficulty and keep overlapping long after a difference is real; resampling
the questions jointly — the same drawn questions for both systems — and bootstrapping the per-question
difference cancels it, so the delta's interval is the one to read when asking "did this stage help?".
Scores are percentages, deltas percentage points, and intervals are seeded so a rerun prints the same
numbers. The interval convention (sorted resampled means, percentile indices) matches `mean_with_ci`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

MAX_DRAWS_IN_MEMORY = 4_000_000  # resampled indices held at once; larger bootstraps run in chunks


def item_scores(predictions: Mapping[str, dict], ids: Iterable[str] | None = None) -> dict[str, float]:
    """Per-question score from prediction records: `correct` as a float (True 1.0, False 0.0, ROUGE-L as is).

    With `ids`, only those questions, in that order. An id without a prediction is an error, never
    dropped: a comparison silently made on fewer questions is not the comparison that was asked for.
    """
    wanted = list(predictions) if ids is None else list(dict.fromkeys(ids))
    missing = [question_id for question_id in wanted if question_id not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} of {len(wanted)} requested ids have no prediction, e.g. {missing[:5]}")
    return {question_id: _record_score(question_id, predictions[question_id]) for question_id in wanted}


def _record_score(question_id: str, record: dict) -> float:
    if "correct" not in record:
        raise ValueError(f"prediction {question_id!r} has no 'correct' field: score the predictions first")
    return float(record["correct"])


@dataclass(frozen=True)
class PairedDelta:
    """Variant minus baseline on the same questions, with a percentile-bootstrap interval of the difference."""

    baseline: float  # baseline's mean score on the compared questions (%)
    variant: float  # variant's mean score on the same questions (%)
    delta: float  # variant - baseline (percentage points)
    ci_low: float  # lower end of the delta's bootstrap interval (percentage points)
    ci_high: float  # upper end of the delta's bootstrap interval (percentage points)
    n: int  # questions compared
    significant: bool  # the interval excludes 0

    @classmethod
    def from_interval(cls, baseline: float, variant: float, ci_low: float, ci_high: float, n: int) -> PairedDelta:
        return cls(baseline=baseline, variant=variant, delta=variant - baseline, ci_low=ci_low, ci_high=ci_high,
                   n=n, significant=ci_low > 0 or ci_high < 0)


def paired_bootstrap(baseline: Mapping[str, float], variant: Mapping[str, float], resamples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> PairedDelta:
    """Delta of `variant` over `baseline` on their (identical) question ids, resampling questions jointly."""
    baseline_scores, variant_scores = aligned_scores(baseline, variant)
    rounds = resampled_mean_deltas(variant_scores - baseline_scores, np.random.default_rng(seed), resamples)
    low, high = percentile_interval(rounds, level)
    return PairedDelta.from_interval(100 * float(baseline_scores.mean()), 100 * float(variant_scores.mean()),
                                     low, high, len(baseline_scores))


def aligned_scores(baseline: Mapping[str, float], variant: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Both systems' scores as arrays in the baseline's question order; the question sets must be equal."""
    baseline_ids, variant_ids = set(baseline), set(variant)
    if baseline_ids != variant_ids:
        only_baseline, only_variant = sorted(baseline_ids - variant_ids), sorted(variant_ids - baseline_ids)
        raise ValueError(
            f"comparisons must be on the same questions: baseline has {len(baseline_ids)}, variant "
            f"{len(variant_ids)}; {len(only_baseline)} only in the baseline (e.g. {only_baseline[:3]}), "
            f"{len(only_variant)} only in the variant (e.g. {only_variant[:3]})")
    if not baseline_ids:
        raise ValueError("no questions to compare")
    order = list(baseline)
    return (np.array([baseline[i] for i in order], dtype=float),
            np.array([variant[i] for i in order], dtype=float))


def resampled_mean_deltas(differences: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Mean per-question difference (percentage points) in each of `resamples` bootstrap draws of the questions."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    n = len(differences)
    per_chunk = max(1, MAX_DRAWS_IN_MEMORY // n)
    means = np.empty(resamples)
    for start in range(0, resamples, per_chunk):
        stop = min(start + per_chunk, resamples)
        drawn = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = differences[drawn].mean(axis=1)
    return 100 * means


def percentile_interval(rounds: np.ndarray, level: float) -> tuple[float, float]:
    """Central `level` interval of bootstrap rounds, indexed like `lingshu.eval.metrics.mean_with_ci`."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    ordered = np.sort(rounds)
    tail, last = (1 - level) / 2, len(ordered) - 1
    return float(ordered[int(tail * last)]), float(ordered[int((1 - tail) * last)])


def subset_bootstrap(scores: Mapping[str, float], subset: Iterable[str], resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> PairedDelta:
    """The mean over `subset` of the questions minus the mean over all of them, with an interval from resampling
    all the questions jointly: in each draw both means are taken on the same drawn questions (the subset's on
    those of them it holds), so the shared difficulty cancels as in `paired_bootstrap`. Draws holding none of
    the subset are left out of the interval. `baseline` is the whole set's score, `variant` the subset's."""
    ids = list(scores)
    inside = set(subset)
    unknown = sorted(inside - set(ids))
    if unknown:
        raise ValueError(f"{len(unknown)} subset ids are not among the {len(ids)} questions, e.g. {unknown[:3]}")
    if not inside:
        raise ValueError("the subset is empty")
    values = np.array([scores[i] for i in ids], dtype=float)
    member = np.array([i in inside for i in ids], dtype=float)
    rng, n = np.random.default_rng(seed), len(ids)
    per_chunk = max(1, MAX_DRAWS_IN_MEMORY // n)
    rounds = []
    for start in range(0, resamples, per_chunk):
        drawn = rng.integers(0, n, size=(min(per_chunk, resamples - start), n))
        counts = member[drawn].sum(axis=1)
        kept = counts > 0
        subset_means = (values[drawn] * member[drawn]).sum(axis=1)[kept] / counts[kept]
        rounds.append(100 * (subset_means - values[drawn][kept].mean(axis=1)))
    low, high = percentile_interval(np.concatenate(rounds), level)
    variant = 100 * float(values[member == 1].mean())
    return PairedDelta.from_interval(100 * float(values.mean()), variant, low, high, int(member.sum()))
