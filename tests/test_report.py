"""Paired bootstrap deltas, the ablation comparison table, and the report charts."""

from __future__ import annotations

import math
import random

import pytest
from PIL import Image

from lingshu.eval.metrics import mean_with_ci
from lingshu.report.charts import delta_chart, progression_chart
from lingshu.report.compare import compare_systems, to_markdown, to_metrics, to_rows
from lingshu.stats.paired import item_scores, paired_bootstrap, subset_bootstrap

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def scores_from(flags: list[float], prefix: str = "q") -> dict[str, float]:
    return {f"{prefix}{i}": float(flag) for i, flag in enumerate(flags)}


def coin_flips(n: int, seed: int, p: float = 0.5) -> list[float]:
    rng = random.Random(seed)
    return [float(rng.random() < p) for _ in range(n)]


# --- paired bootstrap ---

def test_identical_systems_have_zero_delta_and_a_zero_interval():
    scores = scores_from(coin_flips(100, seed=1))
    result = paired_bootstrap(scores, dict(scores))
    assert result.delta == 0 and result.baseline == result.variant
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert not result.significant and result.n == 100
    assert all(type(value) is float for value in (result.baseline, result.variant, result.delta, result.ci_low))


def test_variant_right_on_30_more_of_100_is_significant():
    baseline = scores_from([1.0] * 40 + [0.0] * 60)
    variant = scores_from([1.0] * 70 + [0.0] * 30)
    result = paired_bootstrap(baseline, variant)
    assert result.baseline == pytest.approx(40) and result.variant == pytest.approx(70)
    assert result.delta == pytest.approx(30)
    assert 0 < result.ci_low < 30 < result.ci_high
    assert result.significant


def test_one_more_right_answer_out_of_ten_is_not_significant():
    baseline = scores_from([1.0] * 5 + [0.0] * 5)
    variant = scores_from([1.0] * 6 + [0.0] * 4)
    result = paired_bootstrap(baseline, variant)
    assert result.delta == pytest.approx(10)
    assert result.ci_low <= 0 <= result.ci_high
    assert not result.significant


def test_paired_interval_is_narrower_than_two_independent_intervals_when_hard_questions_are_shared():
    # Both systems right on the same 100 easy questions and wrong on the same 90 hard ones; the variant
    # also gets 10 of the middle questions the baseline misses.
    baseline_flags = [1.0] * 100 + [0.0] * 100
    variant_flags = [1.0] * 110 + [0.0] * 90
    paired = paired_bootstrap(scores_from(baseline_flags), scores_from(variant_flags))
    baseline_ci, variant_ci = mean_with_ci(baseline_flags), mean_with_ci(variant_flags)
    baseline_width = baseline_ci["ci_high"] - baseline_ci["ci_low"]
    variant_width = variant_ci["ci_high"] - variant_ci["ci_low"]
    unpaired_width = math.hypot(baseline_width, variant_width)  # width of a difference of independent means
    paired_width = paired.ci_high - paired.ci_low
    assert paired_width < 0.5 * unpaired_width
    assert paired_width < min(baseline_width, variant_width)
    assert paired.significant  # the unpaired intervals overlap, yet the gain is real
    assert baseline_ci["ci_high"] > variant_ci["ci_low"]


def test_same_seed_same_interval_other_seed_other_interval():
    rng = random.Random(3)
    baseline = scores_from([rng.random() for _ in range(80)])  # ROUGE-L-like floats
    variant = scores_from([rng.random() for _ in range(80)])
    first, again = paired_bootstrap(baseline, variant, seed=7), paired_bootstrap(baseline, variant, seed=7)
    assert first == again
    other = paired_bootstrap(baseline, variant, seed=8)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.delta == first.delta


def test_paired_bootstrap_pairs_by_id_not_by_position():
    baseline = {"a": 1.0, "b": 0.0, "c": 1.0}
    variant = {"c": 1.0, "a": 1.0, "b": 0.0}  # same answers, other order
    result = paired_bootstrap(baseline, variant)
    assert (result.delta, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)


def test_different_questions_are_refused_with_counts():
    baseline = scores_from([1.0] * 10)
    variant = scores_from([1.0] * 8)
    with pytest.raises(ValueError, match=r"same questions.*baseline has 10, variant 8.*2 only in the baseline"):
        paired_bootstrap(baseline, variant)


def test_a_subset_of_all_questions_differs_by_nothing():
    scores = scores_from(coin_flips(200, seed=3))
    result = subset_bootstrap(scores, list(scores))
    assert (result.delta, result.ci_low, result.ci_high, result.significant) == (0.0, 0.0, 0.0, False)


def test_a_subset_that_is_harder_than_the_rest_is_significantly_below_the_whole():
    flags = coin_flips(100, seed=1, p=0.9) + coin_flips(300, seed=2, p=0.3)
    scores = scores_from(flags)
    hard = [f"q{i}" for i in range(100, 400)]
    result = subset_bootstrap(scores, hard)
    assert result.baseline == pytest.approx(100 * sum(flags) / 400)
    assert result.variant == pytest.approx(100 * sum(flags[100:]) / 300) and result.n == 300
    assert result.ci_high < 0 and result.significant and result.ci_low <= result.delta <= result.ci_high
    alike = subset_bootstrap(scores_from(coin_flips(400, seed=4)), [f"q{i}" for i in range(0, 400, 2)])
    assert alike.ci_low < 0 < alike.ci_high, "a random half of the same questions is not different"


def test_a_subset_must_name_known_questions():
    scores = scores_from([1.0, 0.0])
    with pytest.raises(ValueError, match="1 subset ids are not among the 2 questions"):
        subset_bootstrap(scores, ["q0", "q9"])
    with pytest.raises(ValueError, match="empty"):
        subset_bootstrap(scores, [])


def test_item_scores_converts_bools_and_keeps_floats():
    predictions = {"a": {"id": "a", "correct": True}, "b": {"id": "b", "correct": False},
                   "c": {"id": "c", "correct": 0.42}}
    assert item_scores(predictions) == {"a": 1.0, "b": 0.0, "c": 0.42}
    assert list(item_scores(predictions, ids=["c", "a"]).items()) == [("c", 0.42), ("a", 1.0)]
    assert all(type(v) is float for v in item_scores(predictions).values())


def test_item_scores_refuses_missing_ids():
    predictions = {"a": {"id": "a", "correct": True}}
    with pytest.raises(ValueError, match=r"2 of 3 requested ids have no prediction.*'x'"):
        item_scores(predictions, ids=["a", "x", "y"])


# --- comparison table ---

GROUPS = {"vqa_a": "multimodal_qa", "vqa_b": "multimodal_qa", "text_a": "text_qa", "unused": "text_qa"}


@pytest.fixture(scope="module")
def systems() -> dict[str, dict[str, dict[str, float]]]:
    base = {"vqa_a": [1.0] * 40 + [0.0] * 60, "vqa_b": coin_flips(60, seed=2), "text_a": coin_flips(50, seed=4)}
    return {
        "base": {name: scores_from(flags) for name, flags in base.items()},
        "same": {name: scores_from(flags) for name, flags in base.items()},  # identical: nothing significant
        "better": {"vqa_a": scores_from([1.0] * 70 + [0.0] * 30),  # +30 on vqa_a: significant
                   "vqa_b": scores_from(base["vqa_b"]), "text_a": scores_from(base["text_a"])},
    }


@pytest.fixture(scope="module")
def comparison(systems):
    return compare_systems("base", systems, GROUPS, resamples=1000)


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| system"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_markdown_has_every_system_and_benchmark_and_marks_only_significant_cells(comparison):
    markdown = to_markdown(comparison)
    header = markdown.splitlines()[0]
    for name in ("vqa_a", "vqa_b", "text_a", "multimodal_qa", "text_qa"):
        assert name in header
    rows = table_rows(markdown)
    assert list(rows) == ["base", "same", "better"]
    columns = ["vqa_a", "vqa_b", "text_a", "multimodal_qa", "text_qa"]
    starred = {(system, column) for system, cells in rows.items() for column, cell in zip(columns, cells)
               if "*" in cell}
    expected = {(system, name) for system in ("same", "better") for name, result in comparison.benchmarks.items()
                if result.deltas[system].significant}
    expected |= {(system, name) for system in ("same", "better") for name, result in comparison.groups.items()
                 if result.deltas[system].significant}
    assert ("better", "vqa_a") in expected and not any(system == "same" for system, _ in expected)
    assert starred == expected
    assert rows["base"][0] == "40.0"
    assert rows["better"][0].startswith("70.0 (+30.0 [+")
    assert "Questions per benchmark: vqa_a 100, vqa_b 60, text_a 50" in markdown


def test_group_scores_are_macro_averages_of_member_benchmarks(systems, comparison):
    def mean_percent(scores):
        return 100 * sum(scores.values()) / len(scores)

    for system, per_benchmark in systems.items():
        expected_mm = (mean_percent(per_benchmark["vqa_a"]) + mean_percent(per_benchmark["vqa_b"])) / 2
        assert comparison.groups["multimodal_qa"].scores[system] == pytest.approx(expected_mm)
        assert comparison.groups["text_qa"].scores[system] == pytest.approx(mean_percent(per_benchmark["text_a"]))
    macro = comparison.groups["multimodal_qa"].deltas["better"]
    assert macro.delta == pytest.approx(15)
    assert macro.ci_low <= macro.delta <= macro.ci_high
    assert comparison.groups["multimodal_qa"].benchmarks == ["vqa_a", "vqa_b"]


def test_a_group_of_one_benchmark_has_that_benchmarks_interval(comparison):
    single = comparison.groups["text_qa"].deltas["better"]
    bench = comparison.benchmarks["text_a"].deltas["better"]
    assert (single.ci_low, single.ci_high) == (bench.ci_low, bench.ci_high)


def test_metric_names_and_rows(comparison):
    metrics = to_metrics(comparison)
    assert metrics["base/vqa_a/score"] == pytest.approx(40)
    assert "base/vqa_a/delta" not in metrics
    assert metrics["better/vqa_a/delta"] == pytest.approx(30)
    assert metrics["better/vqa_a/ci_low"] > 0 and metrics["better/vqa_a/significant"] == 1.0
    for key in ("score", "delta", "ci_low", "ci_high"):
        assert f"same/text_a/{key}" in metrics
        assert f"better/group/multimodal_qa/{key}" in metrics
    assert metrics["better/group/multimodal_qa/delta"] == pytest.approx(15)
    assert all(isinstance(value, float) for value in metrics.values())
    rows = to_rows(comparison)
    assert len(rows) == 3 * 3
    better = next(r for r in rows if r["system"] == "better" and r["benchmark"] == "vqa_a")
    assert better["delta"] == pytest.approx(30) and better["significant"] is True
    assert set(better) == {"system", "benchmark", "score", "delta", "ci_low", "ci_high", "significant"}


def test_comparison_refuses_mismatched_inputs(systems):
    partial = {**systems, "partial": {"vqa_a": systems["base"]["vqa_a"]}}
    with pytest.raises(ValueError, match="missing"):
        compare_systems("base", partial, GROUPS)
    with pytest.raises(ValueError, match="without a group.*text_a"):
        compare_systems("base", systems, {"vqa_a": "multimodal_qa", "vqa_b": "multimodal_qa"})
    fewer = {**systems, "fewer": {**systems["base"], "vqa_b": scores_from(coin_flips(59, seed=2))}}
    with pytest.raises(ValueError, match="vqa_b: fewer vs base: comparisons must be on the same questions"):
        compare_systems("base", fewer, GROUPS)


# --- charts ---

def assert_png(path, min_width=400, min_height=250):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_width and image.size[1] >= min_height


def test_progression_chart_writes_a_png(tmp_path):
    stages = ["base", "shallow", "deep", "instruct", "rl"]
    scores = {stage: {name: {"score": 30 + 2 * i + j, "ci_low": 25 + 2 * i + j, "ci_high": 35 + 2 * i + j}
                      for j, name in enumerate(["vqa_rad", "medqa", "pubmedqa"])}
              for i, stage in enumerate(stages)}
    del scores["shallow"]["medqa"]  # a benchmark missing at one stage leaves a gap, not an error
    path = progression_chart(scores, tmp_path / "plots" / "progression.png")
    assert path == tmp_path / "plots" / "progression.png"
    assert_png(path)
    assert not list(path.parent.glob("*.tmp"))


def test_delta_chart_writes_a_png(tmp_path, comparison):
    path = delta_chart(comparison, tmp_path / "delta.png")
    assert_png(path)


# --- over several seeds ---

def test_a_seeded_comparison_uses_the_seed_aware_interval_and_says_so(systems):
    from lingshu.report.compare import compare_seeded
    from lingshu.stats.replicates import group_seed_delta, seed_delta

    def seeds_of(system: str, shifts: list[int]) -> dict[str, list[dict[str, float]]]:
        """The same system retrained: each seed gets `shift` more (or fewer) questions right on vqa_a."""
        out = {}
        for name, scores in systems[system].items():
            per_seed = []
            for shift in shifts:
                flags = list(scores.values())
                if name == "vqa_a":
                    flags = sorted(flags, reverse=True)
                    flags = [1.0] * (int(sum(flags)) + shift) + [0.0] * (len(flags) - int(sum(flags)) - shift)
                per_seed.append(dict(zip(scores, flags)))
            out[name] = per_seed
        return out

    seeded = {"base": seeds_of("base", [0, 2, -2]), "better": seeds_of("better", [0, -3, 3])}
    comparison = compare_seeded("base", seeded, GROUPS)
    vqa_a = comparison.benchmarks["vqa_a"].deltas["better"]
    assert vqa_a == seed_delta(seeded["base"]["vqa_a"], seeded["better"]["vqa_a"])
    assert vqa_a.n_seeds == 3 and vqa_a.delta == pytest.approx(30.0) and vqa_a.significant
    question_only = compare_systems("base", {s: {b: v[0] for b, v in per.items()} for s, per in seeded.items()},
                                    GROUPS, resamples=1000).benchmarks["vqa_a"].deltas["better"]
    assert vqa_a.ci_high - vqa_a.ci_low > question_only.ci_high - question_only.ci_low  # training noise counted
    group = comparison.groups["multimodal_qa"].deltas["better"]
    assert group == group_seed_delta({b: (seeded["base"][b], seeded["better"][b]) for b in ("vqa_a", "vqa_b")})
    markdown = to_markdown(comparison)
    assert "CI over 3 training seeds and the questions" in markdown and "paired bootstrap" not in markdown
    with pytest.raises(ValueError, match="same seeds"):
        compare_seeded("base", {"base": seeded["base"], "better": seeds_of("better", [0, 1])}, GROUPS)


# --- the pipeline report's image gaps and noise floor ---

def _suite(score: float, blank: float) -> dict:
    gap = {"delta": score - blank, "ci_low": score - blank - 5, "ci_high": score - blank + 5, "n": 100,
           "significant": score - blank > 5}
    return {"vqa_rad": {"score": score, "ci_low": score - 6, "ci_high": score + 6, "n": 100, "parse_fail_rate": 0,
                        "controls": {"blank_image": {"score": blank, "ci_low": blank - 6, "ci_high": blank + 6,
                                                     "n": 100, "parse_fail_rate": 0, "real_minus_control": gap}}},
            "medqa": {"score": 20.0, "ci_low": 15.0, "ci_high": 25.0, "n": 100, "parse_fail_rate": 0}}


def test_the_image_gap_table_and_chart_show_real_minus_blank_per_checkpoint(tmp_path):
    from lingshu.report.summary import image_gap_metrics, image_gap_table

    suites = {"deep": _suite(30.0, 29.0), "instruct": _suite(50.0, 30.0)}
    table = image_gap_table(suites)
    assert "vqa_rad: real / blank" in table and "medqa" not in table
    assert "| instruct | 50.0 / 30.0, +20.0 [+15.0, +25.0]* |" in table and "+1.0 [-4.0, +6.0] |" in table
    assert image_gap_metrics(suites)["image_gap/instruct/vqa_rad/delta"] == 20.0
    assert_png(progression_chart(suites, tmp_path / "progression.png"), min_width=900)


def test_one_seed_says_its_intervals_are_question_only_and_shows_the_noise_floor_when_measured(comparison):
    from lingshu.report.summary import noise_floor_note

    assert "resample questions only" in noise_floor_note(None, comparison)
    noise = {"n_seeds": 3, "checkpoints": {"base": {"vqa_a": {"sd": 4.0, "min": 30.0, "max": 45.0, "range": 15.0},
                                                    "vqa_b": {"sd": 0.5, "min": 40.0, "max": 41.0, "range": 1.0}}}}
    note = noise_floor_note(noise, comparison)
    assert "over 3 training seeds" in note
    assert "| vqa_a | 4.0 | 30.0–45.0 | same |" in note  # better's +30 is beyond the 15-point range; same's 0 is not
    assert "| vqa_b | 0.5 | 40.0–41.0 | same, better |" in note


def test_the_noise_floor_is_the_spread_of_each_column_over_seeds(tmp_path):
    import json

    from lingshu.report import noise

    suites = [{"benchmarks": _suite(score, blank), "groups": {"multimodal_qa": score}}
              for score, blank in ((50.0, 30.0), (40.0, 30.0), (45.0, 35.0))]
    files = {"metrics/eval/instruct.json": suites, "metrics/train_instruct.json":
             [{"vqa/accuracy": a, "vqa/n": 451.0, "train/steps": 9.0} for a in (0.3, 0.4, 0.5)]}
    reads = [lambda path, k=k: json.dumps(files[path][k]) for k in range(3)]
    floor = noise.measure(reads, "metrics/eval", ["instruct"], {"train_instruct": "metrics/train_instruct.json"})
    instruct = floor["checkpoints"]["instruct"]
    assert instruct["vqa_rad"]["range"] == 10.0 and instruct["vqa_rad"]["scores"] == [50.0, 40.0, 45.0]
    assert instruct["vqa_rad/real-blank"]["mean"] == pytest.approx(40 / 3)
    assert instruct["medqa"]["sd"] == 0.0 and instruct["group/multimodal_qa"]["n_seeds"] == 3
    assert list(floor["training"]["train_instruct"]) == ["vqa/accuracy"]  # counts and step numbers are no noise
    written = noise.write(tmp_path, floor)
    assert "| instruct | " in (tmp_path / "reports/noise_floor.md").read_text()
    assert_png(written[-1])
    assert noise.to_metrics(floor)["instruct/vqa_rad/range"] == 10.0


def test_a_floor_over_more_seeds_of_the_same_recipe_is_kept_and_any_other_is_replaced():
    import json

    from lingshu.report import noise

    suites = [{"benchmarks": _suite(score, 30.0), "groups": {}} for score in (50.0, 40.0, 45.0, 35.0)]
    files = {"metrics/eval/instruct.json": suites,
             "metrics/train_instruct.json": [{"vqa/accuracy": a} for a in (0.3, 0.4, 0.5, 0.6)]}

    def floor_of(seeds: int, files=files) -> dict:
        reads = [lambda path, k=k: json.dumps(files[path][k]) for k in range(seeds)]
        return noise.measure(reads, "metrics/eval", ["instruct"], {"train_instruct": "metrics/train_instruct.json"})

    four, three = floor_of(4), floor_of(3)
    assert noise.extends(four, three)
    assert not noise.extends(three, three) and not noise.extends(three, four) and not noise.extends(None, three)
    retrained = {**files, "metrics/train_instruct.json": [{"vqa/accuracy": a} for a in (0.3, 0.4, 0.45, 0.6)]}
    assert not noise.extends(four, floor_of(3, retrained))  # one held-out metric moved: another recipe or machine
    other_recipe = {**files, "metrics/eval/instruct.json": suites[1:]}
    assert not noise.extends(floor_of(3, other_recipe), floor_of(2))


def test_the_noise_floor_gives_the_full_models_own_intervals_from_its_per_question_answers(tmp_path):
    import json

    from lingshu.eval.config import EvalConfig
    from lingshu.report import noise
    from lingshu.stats.replicates import seed_mean

    questions = [f"q{i}" for i in range(40)]

    def seed_files(real: list[float], blank: list[float]) -> dict[str, str]:
        def lines(scores: list[float]) -> str:
            return "\n".join(json.dumps({"id": q, "correct": bool(s)}) for q, s in zip(questions, scores))

        suite = {"benchmarks": _suite(100 * sum(real) / 40, 100 * sum(blank) / 40), "groups": {}}
        del suite["benchmarks"]["medqa"]
        return {"metrics/eval/instruct.json": json.dumps(suite),
                "eval/instruct/vqa_rad/metrics.json": json.dumps({"ids": questions}),
                "eval/instruct/vqa_rad/predictions.jsonl": lines(real),
                "eval/instruct/vqa_rad/blank_image/predictions.jsonl": lines(blank)}

    rng = random.Random(3)
    seeds = [([float(rng.random() < p) for _ in questions], [float(rng.random() < 0.3) for _ in questions])
             for p in (0.7, 0.8, 0.75)]
    reads = [lambda path, files=seed_files(*seed): files[path] for seed in seeds]
    found = noise.intervals(reads, EvalConfig(), ["instruct"])["instruct"]
    gap = seed_mean([{q: r - b for q, r, b in zip(questions, real, blank)} for real, blank in seeds])
    assert set(found) == {"vqa_rad", "vqa_rad/real-blank"}
    assert found["vqa_rad/real-blank"]["ci_low"] == pytest.approx(gap.ci_low) and found["vqa_rad/real-blank"]["n"] == 40
    assert found["vqa_rad"]["mean"] == pytest.approx(100 * sum(sum(real) for real, _ in seeds) / 120)
    assert found["vqa_rad/real-blank"]["excludes_zero"] == (gap.ci_low > 0)
    floor = {"n_seeds": 3, "checkpoints": {}, "training": {}, "intervals": {"instruct": found}}
    assert "| vqa_rad/real-blank | " in noise.to_markdown(floor)
    assert noise.to_metrics(floor)["instruct/vqa_rad/real-blank/ci_high"] == pytest.approx(gap.ci_high)
