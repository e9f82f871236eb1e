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
