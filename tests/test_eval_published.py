"""Published scores (lingshu/eval/published/) and `lingshu eval --compare-to`: the data is consistent with
itself and with the benchmarks, and a run's scores print beside it with the differences its CI leaves."""

from __future__ import annotations

import json

import pytest

import lingshu.eval.loaders  # noqa: F401
from lingshu.cli import main
from lingshu.eval.benchmark import discover
from lingshu.eval.published import PUBLISHED_DIR, PublishedScore, compare, published, read_published


@pytest.mark.parametrize("name", ["lingshu-7b", "lingshu-32b"])
def test_published_rows_name_their_source_real_benchmarks_and_averages_that_add_up(name):
    reference = published(name)
    assert reference.source["arxiv"].startswith("2506.07044v") and reference.source["url"].startswith("https://")
    known = discover()
    by_column = {}
    for entry in reference.scores:
        by_column.setdefault(entry.table, {})[entry.column] = entry.score
        assert entry.benchmark is None or entry.benchmark in known, entry
        assert entry.benchmark or entry.average_of or entry.note, f"{entry.column}: say why it has no benchmark"
    assert set(by_column) == {6, 7}, "the multimodal and the text QA table"
    for entry in reference.scores:
        if entry.average_of:  # a transcription typo in any column shows here (the paper rounds to 0.1)
            columns = [by_column[entry.table][c] for c in entry.average_of]
            assert len(columns) == 7 and sum(columns) / 7 == pytest.approx(entry.score, abs=0.05), entry.column


def test_a_bad_published_file_is_named_with_its_field(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nmodel: m\nsource: {}\nprotocol: p\nscores:\n  - {table: 1, column: A, score: high}\n")
    with pytest.raises(ValueError, match=r"x.yaml scores\[0\]: field 'score' is 'high', not a number"):
        read_published(path)
    with pytest.raises(ValueError, match="no published scores named 'lingshu-70b'; known: lingshu-32b, lingshu-7b"):
        published("lingshu-70b")
    assert {p.stem for p in PUBLISHED_DIR.glob("*.yaml")} == {"lingshu-7b", "lingshu-32b"}


def test_compare_marks_what_the_interval_does_not_cover():
    reference = published("lingshu-7b")
    vqa_rad = next(s for s in reference.scores if s.benchmark == "vqa_rad").score
    results = [{"benchmark": "vqa_rad", "score": vqa_rad - 1, "ci_low": vqa_rad - 5, "ci_high": vqa_rad + 3, "n": 451},
               {"benchmark": "pubmedqa", "score": 40.0, "ci_low": 35.0, "ci_high": 45.0, "n": 500},
               {"benchmark": "vqa_rad_labels", "score": 50.0, "ci_low": 45.0, "ci_high": 55.0, "n": 836}]
    rows, unmatched, unpublished = compare(results, reference)
    assert [(r.benchmark, r.covered) for r in rows] == [("vqa_rad", True), ("pubmedqa", False)]
    assert rows[0].difference == pytest.approx(-1.0)
    assert unpublished == ["vqa_rad_labels"]
    assert all(isinstance(e, PublishedScore) and e.benchmark not in ("vqa_rad", "pubmedqa") for e in unmatched)
    assert len(unmatched) == len(reference.scores) - 2


def _cells(output: str, benchmark: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(f"│ {benchmark} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_compare_to_prints_the_models_scores_beside_the_published_ones(mini_repo, tmp_path, capsys, monkeypatch):
    """The embedded tiny model answers real questions; its scores print beside Lingshu-7B's."""
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(mini_repo / "models/base"), "--benchmarks", "vqa_rad,pubmedqa", "--limit", "8",
                 "--max-new-tokens", "4", "--out", str(out), "--compare-to", "lingshu-7b"]) == 0
    printed = capsys.readouterr().out
    reference = {s.benchmark: s for s in published("lingshu-7b").scores if s.benchmark}
    for name in ("vqa_rad", "pubmedqa"):
        metrics = json.loads((out / name / "metrics.json").read_text())
        cells = _cells(printed[printed.index("beside lingshu-medical-mllm/Lingshu-7B"):], name)
        outside = not metrics["ci_low"] <= reference[name].score <= metrics["ci_high"]
        assert cells == [name, "8", f"{metrics['score']:.1f} [{metrics['ci_low']:.1f}, {metrics['ci_high']:.1f}]",
                         f"{reference[name].score:.1f}", f"Table {reference[name].table}, {reference[name].column}",
                         f"{metrics['score'] - reference[name].score:+.1f}", "*" if outside else ""]
    slake = next(s for s in published("lingshu-7b").scores if s.benchmark == "slake")
    assert f"published only: Table 6, SLAKE {slake.score:.1f} (not evaluated in this run; {slake.note})" in printed
    with pytest.raises(SystemExit, match="--compare-to: no published scores named 'gpt-9'"):
        main(["eval", "--rescore", "--out", str(out), "--benchmarks", "vqa_rad", "--compare-to", "gpt-9"])
