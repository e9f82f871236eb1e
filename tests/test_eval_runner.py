"""The evaluation runner: loaders on the real data, batched = one-at-a-time greedy, resume, rescoring, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lingshu.eval.loaders  # noqa: F401
from lingshu.eval.backends import Request
from lingshu.eval.backends.hf import HFBackend
from lingshu.eval.benchmark import discover, read_benchmark, select
from lingshu.eval.loaders.choices import split_inline_options
from lingshu.eval.prompts import with_images
from lingshu.eval.runner import generate, predictions_file, read_predictions, summarise

EXPECTED_SIZES = {"vqa_rad": 451, "pubmedqa": 500, "medqa": 1273, "mmlu_medical": 1089, "medmcqa": 4183}


def test_embedded_benchmarks_load_from_the_real_data(repo):
    benches = discover()
    for name, size in EXPECTED_SIZES.items():
        items = benches[name].items(repo)
        assert len(items) == size, name
        assert len({i.id for i in items}) == size, f"{name}: ids are unique"
        if benches[name].task == "mcq":
            assert all(i.answer in i.options for i in items), name
    vqa = benches["vqa_rad"].items(repo)
    assert all(i.images[0].exists() for i in vqa) and {i.answer_type for i in vqa} == {"CLOSED", "OPEN"}


def test_inline_answer_choices_are_split_into_options():
    question, options = split_inline_options("Which is true?\nAnswer Choices: (A) one (B) two words (C) three")
    assert question == "Which is true?" and options == {"A": "one", "B": "two words", "C": "three"}


def test_groups_select_their_benchmarks_and_unknown_names_are_errors():
    assert {b.name for b in select(["text_qa"])} == {"pubmedqa", "medqa", "mmlu_medical", "medmcqa", "medbullets_op4",
                                                     "medbullets_op5", "medxpertqa_text", "supergpqa_medicine"}
    with pytest.raises(ValueError, match="unknown benchmark"):
        select(["no_such_benchmark"])


def test_a_bad_benchmark_file_is_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\nversion: 1\ngroup: g\nloader: mcq_jsonl\npath: p\ntask: essay\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        read_benchmark(tmp_path / "bad.yaml")


@pytest.fixture(scope="module")
def backend(mini_repo):
    return HFBackend(str(mini_repo / "models/base"), max_new_tokens=6)


def _requests(repo: Path, n: int) -> list[Request]:
    items = discover()["vqa_rad"].items(repo)[:n]
    return [Request(with_images(f"{i.question}\nAnswer the question using a single word or phrase.", 1), i.images)
            for i in items] + [Request(with_images("Is this text only?", 0))]


def test_batched_generation_equals_one_at_a_time(backend, repo):
    requests = _requests(repo, 5)
    batched = backend.generate(requests)
    single = [backend.generate([r])[0] for r in requests]
    assert batched == single
    assert len(set(single)) > 1, "a random-weight model still answers different prompts differently"


class CountingBackend:
    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def generate(self, requests):
        self.calls.append(len(requests))
        return self.inner.generate(requests)

    def prompt_length(self, request):
        return self.inner.prompt_length(request)


def test_a_killed_run_resumes_without_recomputing_or_duplicating(backend, repo, tmp_path):
    bench = discover()["vqa_rad"]
    items = bench.items(repo)[:10]
    path = generate(bench, items, backend, predictions_file(tmp_path, bench.name), "strict", batch_size=4)
    full = path.read_text().splitlines()
    assert len(full) == 10
    # simulate a kill: 6 complete lines and half of the 7th
    path.write_text("\n".join(full[:6]) + "\n" + full[6][:20])
    counting = CountingBackend(backend)
    generate(bench, items, counting, predictions_file(tmp_path, bench.name), "strict", batch_size=4)
    assert sum(counting.calls) == 4
    records = path.read_text().splitlines()
    assert len(records) == 10 and len({json.loads(r)["id"] for r in records}) == 10
    assert read_predictions(path) == {json.loads(r)["id"]: json.loads(r) for r in full}


def test_rescoring_reads_only_the_predictions(tmp_path):
    bench = discover()["medqa"]
    path = tmp_path / "medqa" / "predictions.jsonl"
    path.parent.mkdir()
    options = {"A": "x", "B": "y"}
    lines = [{"id": "1", "prompt_hash": "h", "kind": "mcq", "response": "B", "answer": "B", "options": options,
              "fields": {"meta_info": "step1"}},
             {"id": "2", "prompt_hash": "h", "kind": "mcq", "response": "", "answer": "A", "options": options,
              "fields": {"meta_info": "step2"}},
             {"id": "3", "prompt_hash": "h", "kind": "mcq", "response": "<think>B</think>A", "answer": "A",
              "options": options, "fields": {"meta_info": "step1"}}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    metrics = summarise(bench, path, "strict")
    assert metrics["n"] == 3 and metrics["score"] == pytest.approx(200 / 3)
    assert metrics["parse_fail_rate"] == pytest.approx(100 / 3)
    assert metrics["breakdown"]["meta_info"] == {"step1": {"score": 100.0, "n": 2}, "step2": {"score": 0.0, "n": 1}}
    assert json.loads((tmp_path / "medqa" / "metrics.json").read_text())["score"] == metrics["score"]


def test_cli_scores_a_saved_checkpoint_and_prints_a_table(mini_repo, repo, tmp_path, capsys):
    from lingshu.cli import main

    out = tmp_path / "eval"
    assert main(["eval", "--model", str(mini_repo / "models/base"), "--benchmarks", "vqa_rad,medqa", "--limit", "6",
                 "--out", str(out), "--root", str(repo), "--max-new-tokens", "4"]) == 0
    printed = capsys.readouterr().out
    assert "vqa_rad" in printed and "95% CI" in printed
    suite = json.loads((out / "metrics.json").read_text())
    assert set(suite["benchmarks"]) == {"vqa_rad", "medqa"} and suite["benchmarks"]["medqa"]["n"] == 6
    written = {path: path.read_bytes() for path in out.rglob("metrics.json")}
    assert main(["eval", "--rescore", "--out", str(out), "--benchmarks", "medqa", "--limit", "6", "--root", str(repo),
                 "--protocol", "medevalkit"]) == 0
    assert f"rescored metrics: {out / 'metrics_rescored_medevalkit.json'}" in capsys.readouterr().out
    assert {path: path.read_bytes() for path in out.rglob("metrics.json")} == written, "the rescored run's files stay"
    rescored = json.loads((out / "medqa/metrics_rescored_medevalkit.json").read_text())
    assert rescored["protocol"] == "medevalkit" and rescored["n"] == 6
    assert set(json.loads((out / "metrics_rescored_medevalkit.json").read_text())["benchmarks"]) == {"medqa"}


def test_group_averages_name_the_macro_and_the_question_weighted_one():
    from lingshu.eval.runner import group_averages

    results = [{"benchmark": "a", "group": "g", "score": 50.0, "n": 10}, {"benchmark": "b", "group": "g", "score": 90.0, "n": 30},
               {"benchmark": "c", "group": "h", "score": 20.0, "n": 0}]
    averages = group_averages(results)
    assert averages["g"] == {"macro": 70.0, "weighted": 80.0, "n": 40, "benchmarks": ["a", "b"]}
    assert averages["h"]["weighted"] == averages["h"]["macro"] == 20.0


def test_cli_all_runs_the_benchmarks_whose_data_is_present_and_lists_the_rest(mini_repo, repo, tmp_path, capsys):
    import shutil

    from lingshu.cli import main

    root, out = tmp_path / "root", tmp_path / "eval"
    for bench in ("medqa", "pubmedqa"):
        for path in {discover()[bench].path, *discover()[bench].options.values()}:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(repo / path, root / path)
    assert main(["eval", "--model", str(mini_repo / "models/base"), "--benchmarks", "all", "--limit", "3", "--out", str(out),
                 "--root", str(root), "--max-new-tokens", "2"]) == 0
    printed = capsys.readouterr().out
    suite = json.loads((out / "metrics.json").read_text())
    assert set(suite["benchmarks"]) == {"medqa", "pubmedqa"}
    for name in set(discover()) - {"medqa", "pubmedqa"}:
        assert f"skipped {name}: no data at {root / discover()[name].path}" in printed
    text_qa = suite["group_averages"]["text_qa"]
    scores = [suite["benchmarks"][b] for b in ("medqa", "pubmedqa")]
    assert sorted(text_qa["benchmarks"]) == ["medqa", "pubmedqa"] and text_qa["n"] == 6
    assert text_qa["weighted"] == pytest.approx(sum(s["score"] * s["n"] for s in scores) / sum(s["n"] for s in scores))
    assert text_qa["macro"] == suite["groups"]["text_qa"] == pytest.approx(sum(s["score"] for s in scores) / 2)
    assert "text_qa (weighted)" in printed and "text_qa (macro)" in printed
    with pytest.raises(SystemExit, match="none of the selected benchmarks can run: vqa_rad: no data at"):
        main(["eval", "--model", str(mini_repo / "models/base"), "--benchmarks", "vqa_rad", "--available",
              "--out", str(tmp_path / "none"), "--root", str(root)])


def test_report_generation_is_scored_with_report_metrics(tmp_path):
    from lingshu.eval.runner import summarise

    bench = discover()["iu_xray"]
    path = tmp_path / "iu_xray" / "predictions.jsonl"
    path.parent.mkdir()
    reference = "Findings: The heart is normal in size. The lungs are clear. Impression: No acute disease."
    responses = [reference, "Findings: The lungs are clear. Impression: No acute disease.", "", "Cardiomegaly."]
    path.write_text("".join(json.dumps({"id": str(i), "prompt_hash": "h", "kind": "report", "response": r,
                                        "answer": reference, "options": {}, "fields": {}}) + "\n"
                            for i, r in enumerate(responses)))
    metrics = summarise(bench, path, "strict")
    assert metrics["headline"] == "rouge_l" and metrics["parse_fail_rate"] == 25.0
    assert 0 < metrics["score"] < 100 and set(metrics["report"]) >= {"rouge_l", "bleu_4", "cider"}
    assert metrics["findings"]["rouge_l"] > 0
