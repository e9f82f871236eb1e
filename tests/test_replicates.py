"""Seed-aware intervals: coverage on simulated training runs where the truth is known, exact small cases,
groups, validation, and the noise-floor summary."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from lingshu.stats.paired import paired_bootstrap
from lingshu.stats.replicates import SeedDelta, group_seed_delta, seed_delta, seed_mean, spread


def as_seeds(matrix: np.ndarray, prefix: str = "q") -> list[dict[str, float]]:
    """(seeds, questions) scores -> one mapping question id -> score per seed."""
    ids = [f"{prefix}{index}" for index in range(matrix.shape[1])]
    return [dict(zip(ids, row.tolist())) for row in matrix]


# --- coverage on simulated experiments ---

DIFFICULTY_SD = 1.5  # a_q: question difficulty, shared by both systems
SEED_CORRELATION = 0.5  # corr(u_s, v_s): a seed that helps the baseline tends to help the variant
SHIFT = 0.2  # delta: the variant's mean skill gain (logits)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def seed_shifts(rng: np.random.Generator, shape: tuple[int, ...], seed_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed skill shifts u_s (baseline) and v_s (variant), each N(0, seed_sd^2), correlated."""
    u = rng.normal(0, seed_sd, shape)
    v = SEED_CORRELATION * u + math.sqrt(1 - SEED_CORRELATION**2) * rng.normal(0, seed_sd, shape)
    return u, v


def simulate(rng: np.random.Generator, experiments: int, questions: int, seeds: int, seed_sd: float,
             effect_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes (experiments, seeds, questions) of both systems; each experiment draws new questions and seeds.

    Baseline: Bernoulli(sigmoid(a_q + u_s)); variant: Bernoulli(sigmoid(a_q + c_q + SHIFT + v_s)), with c_q the
    variant's own per-question effect, N(0, effect_sd^2).
    """
    difficulty = rng.normal(0, DIFFICULTY_SD, (experiments, 1, questions))
    effect = rng.normal(0, effect_sd, (experiments, 1, questions))
    u, v = seed_shifts(rng, (experiments, seeds, 1), seed_sd)
    shape = (experiments, seeds, questions)
    baseline = (rng.random(shape) < sigmoid(difficulty + u)).astype(float)
    variant = (rng.random(shape) < sigmoid(difficulty + effect + SHIFT + v)).astype(float)
    return baseline, variant


def true_delta(seed_sd: float, effect_sd: float, draws: int = 1_000_000) -> float:
    """Expected variant - baseline accuracy (pp) over the populations of questions and seeds, by Monte Carlo.

    Its standard error is about 0.02 pp, negligible against intervals several points wide.
    """
    rng = np.random.default_rng(12345)
    difficulty = rng.normal(0, DIFFICULTY_SD, draws)
    effect = rng.normal(0, effect_sd, draws)
    u, v = seed_shifts(rng, (draws,), seed_sd)
    return 100 * float(np.mean(sigmoid(difficulty + effect + SHIFT + v) - sigmoid(difficulty + u)))


REGIMES = {  # name: (questions, seeds, seed_sd, effect_sd, highest acceptable coverage)
    "seed-dominated": (200, 3, 0.5, 0.3, 0.99),
    "question-dominated": (100, 3, 0.05, 0.7, 0.99),
    "mixed, five seeds": (150, 5, 0.25, 0.5, 0.99),
}
EXPERIMENTS = 2000  # per regime: the coverage estimate's standard error is about 0.005


@pytest.mark.parametrize("regime", list(REGIMES))
def test_seed_interval_covers_the_recipe_level_delta_at_about_its_nominal_level(regime):
    questions, seeds, seed_sd, effect_sd, highest = REGIMES[regime]
    truth = true_delta(seed_sd, effect_sd)
    baseline, variant = simulate(np.random.default_rng(7), EXPERIMENTS, questions, seeds, seed_sd, effect_sd)
    results = [seed_delta(as_seeds(baseline[index]), as_seeds(variant[index])) for index in range(EXPERIMENTS)]
    coverage = np.mean([result.ci_low <= truth <= result.ci_high for result in results])
    assert 0.92 <= coverage <= highest, f"{regime}: coverage {coverage:.3f} of the nominal 95% interval"
    assert all(result.n_seeds == seeds and result.n == questions for result in results)


def test_question_only_interval_of_one_seed_misses_the_recipe_level_delta_when_seeds_dominate():
    questions, seeds, seed_sd, effect_sd, _ = REGIMES["seed-dominated"]
    truth = true_delta(seed_sd, effect_sd)
    experiments = 400
    baseline, variant = simulate(np.random.default_rng(7), experiments, questions, seeds, seed_sd, effect_sd)
    question_only = [paired_bootstrap(as_seeds(baseline[index])[0], as_seeds(variant[index])[0], resamples=400)
                     for index in range(experiments)]
    coverage = np.mean([result.ci_low <= truth <= result.ci_high for result in question_only])
    assert coverage < 0.8, f"the question-only interval covers {coverage:.3f}; it should miss training variance"


# --- exact small cases ---

def written_out(tables: list[np.ndarray], level: float = 0.95) -> tuple[float, float, float]:
    """(centre, half width, df) of the documented estimator for a macro average of (seeds, questions) tables,
    written out from the two-way analysis of variance independently of the module."""
    weight = 1 / len(tables) ** 2
    per_seed = np.mean([t.mean(axis=1) for t in tables], axis=0)
    seeds = len(per_seed)
    seed = per_seed.var(ddof=1) / seeds
    questions, residuals = [], []
    for t in tables:
        n, q = t.shape
        r = t - t.mean(axis=1, keepdims=True) - t.mean(axis=0, keepdims=True) + t.mean()
        questions.append((t.mean(axis=0).var(ddof=1) / q, q - 1))
        residuals.append(((r**2).sum() / ((n - 1) * (q - 1)) / (n * q), (n - 1) * (q - 1)))
    residual_total = weight * sum(v for v, _ in residuals)
    seed_component = max(seed - residual_total, 0.0)
    parts = [(seed, seeds - 1)] if seed_component > 0 else []  # (signed contribution, df)
    for (question, question_df), (residual, residual_df) in zip(questions, residuals):
        question_component = max(question - residual, 0.0)
        if question_component > 0:
            parts.append((weight * question, question_df))
        parts.append(((1 - (seed_component > 0) - (question_component > 0)) * weight * residual, residual_df))
    variance = sum(v for v, _ in parts)
    df = variance**2 / sum(v**2 / d for v, d in parts if v)
    return 100 * float(per_seed.mean()), 100 * stats.t.ppf((1 + level) / 2, df) * math.sqrt(variance), df


def test_two_seeds_three_questions_match_the_formula_by_hand():
    baseline = [{"a": 1.0, "b": 0.0, "c": 1.0}, {"a": 0.0, "b": 0.0, "c": 1.0}]
    variant = [{"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 1.0, "b": 1.0, "c": 1.0}]
    # D = [[0, 1, 0], [1, 1, 0]]: per-seed deltas 1/3 and 2/3, per-question means 1/2, 1, 0, grand mean 1/2.
    # Seed term var(1/3, 2/3)/2 = 1/36; question term var(1/2, 1, 0)/3 = 1/12; residuals +-1/3, +-1/6 with
    # sum of squares 1/3 over (2-1)(3-1) = 2 df: mean square 1/6, residual term 1/6 / 6 = 1/36. The seed
    # term is no larger than the residual it carries, so the seed component is 0; the question component is
    # 1/12 - 1/36 and the residual counts once: V = 1/12, all of it from the question mean square (df 2).
    half_width = 100 * stats.t.ppf(0.975, 2) * math.sqrt(1 / 12)

    result = seed_delta(baseline, variant)
    assert result.baseline == pytest.approx(50) and result.variant == pytest.approx(100)
    assert result.delta == pytest.approx(50)
    assert result.df == pytest.approx(2)
    assert result.seed_se == 0 and result.question_se == pytest.approx(100 / math.sqrt(12))
    assert result.seed_sd == pytest.approx(100 * math.sqrt(1 / 18))
    assert result.ci_low == pytest.approx(50 - half_width) and result.ci_high == pytest.approx(50 + half_width)
    assert half_width > 50  # t(0.975, 2) is 4.3: two seeds of three questions say little, and the interval shows it
    assert not result.significant and (result.n_seeds, result.n) == (2, 3)


def test_seed_differences_count_once_their_residual_is_taken_out():
    baseline = np.zeros((3, 4))
    variant = np.array([[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=float)  # seed 2 lost everything
    centre, half_width, df = written_out([variant - baseline])
    result = seed_delta(as_seeds(baseline), as_seeds(variant))
    assert result.seed_se > result.question_se > 0  # a seed effect, beyond the answers' own noise
    assert result.delta == pytest.approx(centre) and result.df == pytest.approx(df)
    assert (result.ci_low, result.ci_high) == pytest.approx((centre - half_width, centre + half_width))


def test_rouge_scores_match_the_formula_written_out_with_numpy():
    rng = np.random.default_rng(3)
    baseline, variant = rng.random((4, 25)), rng.random((4, 25)) + 0.0
    variant[1] = np.clip(variant[1] + 0.3, 0, 1)  # one seed of the variant trained better: a seed component
    centre, half_width, df = written_out([variant - baseline], level=0.8)

    result = seed_delta(as_seeds(baseline), as_seeds(variant), level=0.8)
    assert result.delta == pytest.approx(centre)
    assert result.df == pytest.approx(df)
    assert result.ci_high - result.delta == pytest.approx(half_width)
    assert result.delta - result.ci_low == pytest.approx(half_width)


def test_seed_mean_matches_the_formula_on_one_systems_scores():
    scores = np.array([[1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 0]], dtype=float)
    centre, half_width, df = written_out([scores])

    result = seed_mean(as_seeds(scores))
    assert result.score == pytest.approx(100 * 8 / 12) == pytest.approx(centre)
    assert result.df == pytest.approx(df)
    assert (result.ci_low, result.ci_high) == pytest.approx((result.score - half_width, result.score + half_width))
    assert result.seed_sd == pytest.approx(100 * scores.mean(axis=1).std(ddof=1))
    assert (result.n_seeds, result.n) == (3, 4)


def test_shuffled_question_order_does_not_change_the_result():
    rng = np.random.default_rng(5)
    baseline, variant = as_seeds(rng.random((3, 30))), as_seeds(rng.random((3, 30)))
    shuffled = [dict(reversed(list(scores.items()))) for scores in variant]
    assert seed_delta(baseline, shuffled) == pytest.approx(seed_delta(baseline, variant))


# --- groups ---

def test_group_of_one_benchmark_is_that_benchmarks_interval():
    rng = np.random.default_rng(11)
    baseline, variant = as_seeds(rng.random((3, 40))), as_seeds(rng.random((3, 40)))
    assert group_seed_delta({"vqa_rad": (baseline, variant)}) == seed_delta(baseline, variant)


def test_group_of_two_benchmarks_with_different_sizes_follows_the_macro_formula():
    rng = np.random.default_rng(13)
    small = (rng.random((3, 20)), rng.random((3, 20)))
    large = (rng.random((3, 90)), (rng.random((3, 90)) < 0.7).astype(float))
    large[1][2] = 1.0  # one seed of the variant does better on the large benchmark: a seed component
    centre, half_width, df = written_out([variant - baseline for baseline, variant in (small, large)])

    result = group_seed_delta({"small": tuple(map(as_seeds, small)), "large": tuple(map(as_seeds, large))})
    one_by_one = [seed_delta(*map(as_seeds, pair)) for pair in (small, large)]
    assert result.delta == pytest.approx(np.mean([member.delta for member in one_by_one])) == pytest.approx(centre)
    assert result.baseline == pytest.approx(np.mean([member.baseline for member in one_by_one]))
    assert result.df == pytest.approx(df)
    assert (result.ci_low, result.ci_high) == pytest.approx((result.delta - half_width, result.delta + half_width))
    assert (result.n_seeds, result.n) == (3, 110)


def test_group_members_need_the_same_seeds():
    rng = np.random.default_rng(17)
    three = (as_seeds(rng.random((3, 10))), as_seeds(rng.random((3, 10))))
    two = (as_seeds(rng.random((2, 10))), as_seeds(rng.random((2, 10))))
    with pytest.raises(ValueError, match="same seeds"):
        group_seed_delta({"a": three, "b": two})
    with pytest.raises(ValueError, match="at least one benchmark"):
        group_seed_delta({})


# --- validation ---

def test_one_seed_is_refused_and_points_to_the_question_only_comparison():
    with pytest.raises(ValueError, match=r"1 seed\(s\).*at least 2.*paired_bootstrap"):
        seed_delta([{"q0": 1.0}], [{"q0": 0.0}])
    with pytest.raises(ValueError, match=r"1 seed\(s\)"):
        seed_mean([{"q0": 1.0}])


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match=r"0 seed\(s\)"):
        seed_delta([], [])
    with pytest.raises(ValueError, match="no questions"):
        seed_delta([{}, {}], [{}, {}])


def test_a_variant_seed_without_its_baseline_seed_is_refused():
    seeds = [{"q0": 1.0, "q1": 0.0}] * 3
    with pytest.raises(ValueError, match="baseline has 3 seeds and the variant 2"):
        seed_delta(seeds, seeds[:2])


def test_seeds_answering_different_questions_are_refused_with_the_odd_ids():
    baseline = [{"q0": 1.0, "q1": 0.0}, {"q0": 1.0, "q1": 0.0}]
    with pytest.raises(ValueError, match=r"baseline seed 1 .*missing \(e\.g\. \['q1'\]\)"):
        seed_delta([baseline[0], {"q0": 1.0}], baseline)
    with pytest.raises(ValueError, match=r"variant seed 0 .*unexpected \(e\.g\. \['q2'\]\)"):
        seed_delta(baseline, [{"q0": 1.0, "q1": 0.0, "q2": 1.0}, baseline[1]])
    with pytest.raises(ValueError, match=r"benchmark 'pmc_vqa': .*variant seed 1"):
        group_seed_delta({"pmc_vqa": (baseline, [baseline[0], {"q0": 1.0, "q3": 1.0}])})


def test_percentages_instead_of_fractions_are_refused():
    with pytest.raises(ValueError, match=r"baseline's scores must be in \[-1, 1\].*1 are not, e.g. \[100.0\]"):
        seed_delta([{"q0": 100.0}, {"q0": 0.0}], [{"q0": 1.0}, {"q0": 0.0}])
    with pytest.raises(ValueError, match=r"variant's scores must be in \[-1, 1\]"):
        seed_delta([{"q0": 1.0}, {"q0": 0.0}], [{"q0": float("nan")}, {"q0": 0.0}])


# --- degenerate cases ---

def test_identical_systems_give_a_zero_point_interval_without_warnings():
    seeds = as_seeds(np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]], dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = seed_delta(seeds, [dict(scores) for scores in seeds])
        group = group_seed_delta({"a": (seeds, seeds), "b": (seeds, seeds)})
    for comparison in (result, group):
        assert isinstance(comparison, SeedDelta)
        assert comparison.delta == 0 and (comparison.ci_low, comparison.ci_high) == (0.0, 0.0)
        assert not comparison.significant and math.isnan(comparison.df)
        assert comparison.seed_sd == 0 and comparison.seed_se == 0 and comparison.question_se == 0


def test_a_shift_on_every_answer_with_no_seed_spread_uses_the_question_term_alone():
    baseline = as_seeds(np.array([[0.2, 0.5, 0.4], [0.2, 0.5, 0.4]]))
    variant = as_seeds(np.array([[0.3, 0.9, 0.4], [0.3, 0.9, 0.4]]))  # both seeds gain exactly the same
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = seed_delta(baseline, variant)
    assert result.seed_se == pytest.approx(0, abs=1e-9)
    assert result.df == pytest.approx(2)  # Q - 1: the zero seed term is dropped
    half_width = 100 * stats.t.ppf(0.975, 2) * math.sqrt(np.var([0.1, 0.4, 0.0], ddof=1) / 3)
    assert result.ci_high - result.delta == pytest.approx(half_width)


# --- noise floor ---

def test_spread_summarises_one_score_per_seed():
    summary = spread([31.0, 27.5, 34.0])
    assert summary == pytest.approx({"mean": 30.833333, "sd": math.sqrt(((31 - 92.5 / 3) ** 2 + (27.5 - 92.5 / 3)
                                                                          ** 2 + (34 - 92.5 / 3) ** 2) / 2),
                                     "min": 27.5, "max": 34.0, "range": 6.5, "n_seeds": 3})
    assert summary["sd"] == pytest.approx(3.2532035)
    assert type(summary["n_seeds"]) is int and type(summary["sd"]) is float


def test_spread_needs_at_least_two_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds, got 1"):
        spread([31.0])
    with pytest.raises(ValueError, match="got 0"):
        spread([])
