"""Scores per sample and per benchmark: exact match, token F1 / recall, and bootstrap confidence intervals.

Benchmark scores are percentages with a 95% percentile-bootstrap interval over samples (seeded, so a
rerun prints the same interval); the parse-fail rate counts UNPARSED answers, which score 0.
"""

from __future__ import annotations

import random
from collections import Counter


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
    """Mean and percentile-bootstrap interval, all as percentages."""
    if not values:
        return {"score": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    low, high = means[int(tail * (resamples - 1))], means[int((1 - tail) * (resamples - 1))]
    return {"score": 100 * sum(values) / n, "ci_low": 100 * low, "ci_high": 100 * high, "n": n}
