"""Scores per sample and per benchmark: exact match, token F1 / recall, and bootstrap confidence intervals.

Benchmark scores are percentages with a 95% percentile-bootstrap interval over samples (seeded, so a
rerun prints the same interval); the parse-fail rate counts UNPARSED answers, which score 0.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from lingshu.stats.paired import percentile_interval, resampled_mean_deltas


def token_f1(predicted: str, gold: str) -> float:
    pred, ref = predicted.split(), gold.split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_recall(predicted: str, gold: str) -> float:
    """Share of the gold answer's tokens present in the prediction."""
    ref = gold.split()
    return sum((Counter(predicted.split()) & Counter(ref)).values()) / len(ref) if ref else 0.0


def mean_with_ci(values: list[float], resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean and percentile-bootstrap interval, all as percentages (the paired bootstrap's convention)."""
    if not values:
        return {"score": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    scores = np.asarray(values, dtype=float)
    low, high = percentile_interval(resampled_mean_deltas(scores, np.random.default_rng(seed), resamples), level)
    return {"score": 100 * float(scores.mean()), "ci_low": low, "ci_high": high, "n": len(scores)}
