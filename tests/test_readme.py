"""The README's result numbers are the committed metrics: every results section regenerates to itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lingshu.report.readme import MARKER, SECTIONS, render

ROOT = Path(__file__).resolve().parents[1]


def test_every_results_section_of_the_readme_matches_the_committed_metrics():
    readme = (ROOT / "README.md").read_text()
    names = [m["name"] for m in MARKER.finditer(readme)]
    assert sorted(names) == sorted(SECTIONS)
    _, changed = render(readme, ROOT)
    assert changed == [], f"README sections {changed} differ from metrics/: run `lingshu readme`"


def test_a_metric_that_moved_makes_its_section_out_of_date(tmp_path):
    for path in ("README.md", "params.yaml", "metrics", "benchmarks/results"):
        source = ROOT / path
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / path)
    suite_file = tmp_path / "metrics/eval/instruct.json"
    suite = json.loads(suite_file.read_text())
    suite["benchmarks"]["vqa_rad"]["score"] += 1.0
    suite_file.write_text(json.dumps(suite))
    readme = (tmp_path / "README.md").read_text()
    text, changed = render(readme, tmp_path)
    assert changed == ["evaluation"]
    assert render(text, tmp_path)[1] == []  # regenerated, it is up to date again


def test_a_missing_source_says_how_to_make_it_instead_of_showing_numbers(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    readme = "<!-- results: noise_floor -->\nold numbers 1.0\n<!-- /results -->\n"
    text, changed = render(readme, tmp_path)
    assert changed == ["noise_floor"] and "lingshu ablate --noise-floor" in text and "1.0" not in text


def test_a_new_demo_timing_keeps_the_earlier_pairs_and_shows_how_far_apart_one_commit_ran(tmp_path):
    from benchmarks.bench_demo import with_earlier
    from lingshu.report.readme import demo_time

    def run(commit: str, total: float) -> dict:
        return {"commit": commit, "total_s": total, "stages_s": {"train_instruct": total / 2, "evaluate@base": 10.0}}

    machine = {"cpu": "AMD EPYC", "cores": 2, "python": "3.11"}
    first = {"machine": machine, "measured": "2026-12-01", "before": run("a" * 40, 900.0), "after": run("b" * 40, 990.0),
             "ratio_after_over_before": 1.1}
    second = {"machine": machine, "measured": "2026-12-02", "before": run("a" * 40, 1000.0), "after": run("c" * 40, 950.0),
              "ratio_after_over_before": 0.95}
    kept = with_earlier(second, with_earlier(first, None))
    assert kept["earlier"] == [{"measured": "2026-12-01", "ratio_after_over_before": 1.1, "before": {"commit": "a" * 40,
                                "total_s": 900.0}, "after": {"commit": "b" * 40, "total_s": 990.0}}]
    assert with_earlier({**first, "measured": "2026-12-03"}, kept)["earlier"][-1]["after"]["commit"] == "c" * 40
    (tmp_path / "benchmarks/results").mkdir(parents=True)
    (tmp_path / "benchmarks/results/demo_time.json").write_text(json.dumps(kept))
    text = demo_time(tmp_path)
    assert "0.95× the time of aaaaaaa" in text and "bbbbbbb against aaaaaaa: 990 s against 900 s (1.10×" in text
    assert "aaaaaaa itself took 900 and 1000 s" in text
