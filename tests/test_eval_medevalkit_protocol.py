"""A benchmark's `medevalkit:` section: checked when its YAML is read, and used by generation and rescoring.

Agreement with MedEvalKit itself, benchmark by benchmark, is test_eval_medevalkit_compat.py's.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import lingshu.eval.loaders  # noqa: F401
from lingshu.eval.benchmark import EvalItem, discover, read_benchmark
from lingshu.eval.medevalkit_protocol import Settings
from lingshu.eval.runner import build_prompt, generate, read_predictions, score_file

FIXTURES = Path(__file__).parent / "fixtures" / "eval"


@pytest.mark.parametrize("section,key,message", [
    ({"choise": "{letter}"}, "", "unknown keys ['choise']"),
    ({"prompt_rules": ["yes_no if gold_is_yes", "open"]}, ".prompt_rules[0]", "is not 'KIND' or 'KIND if CONDITION'"),
    ({"judge_rules": ["closed", "open if open_question"]}, ".judge_rules[1]", "the last rule must have no condition"),
    ({"choices": "{letter}) {option}"}, ".choices", "uses ['option']"),
    ({"template": "{question} {choices}"}, ".template", "uses ['choices']"),
    ({"language": "fr"}, ".language", "'fr' is not one of"),
    ({"strip_response": "yes"}, ".strip_response", "expected true or false"),
    ({"mcq_judge": "fuzzy"}, ".mcq_judge", "'fuzzy' is not one of"),
])
def test_a_bad_section_names_the_file_and_the_key(section, key, message):
    with pytest.raises(ValueError, match=re.escape(f"x.yaml: medevalkit{key}: ") + ".*" + re.escape(message)):
        Settings.parse(section, "x.yaml")


def test_a_benchmark_yaml_with_a_misspelt_setting_fails_when_read(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("name: b\nversion: 1\ngroup: g\nloader: mcq_jsonl\npath: p\ntask: mcq\nmedevalkit: {choise: x}\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: medevalkit: unknown keys ['choise']")):
        read_benchmark(path)


def test_verbatim_settings_need_the_loaders_verbatim_text():
    item = EvalItem(id="7", question="Which?", answer="A", options={"A": "CT", "B": "MRI"})
    with pytest.raises(ValueError, match=r"pmc_vqa\.yaml: medevalkit asks for the verbatim question, but item '7'"):
        build_prompt(discover()["pmc_vqa"], item, "medevalkit")


class Echo:
    """A backend that answers "A" to everything."""

    def prompt_length(self, request) -> int:
        return 0

    def generate(self, requests) -> list[str]:
        return ["A" for _ in requests]


def test_generation_asks_medevalkits_prompt_and_keeps_what_rescoring_needs(tmp_path):
    bench = replace(discover()["pmc_vqa"], path="pmc_vqa/test_2.csv")
    items = bench.items(FIXTURES)
    path = generate(bench, items, Echo(), tmp_path / "predictions.jsonl", "medevalkit", batch_size=2)
    records = read_predictions(path)
    assert "\nA:CT\n B:MRI\n C:X-ray\n D:Ultrasound\n" in records["0"]["prompt"]  # the cells as the CSV writes them
    assert records["0"]["verbatim"] == items[0].verbatim and records["0"]["answer_type"] is None
    rescored = {r["id"]: r["correct"] for r in score_file(path, "medevalkit", bench=bench)[0]}
    assert rescored == {"0": True, "1": False}  # gold A and C


def test_rescoring_judges_as_medevalkit_judges_that_benchmark(tmp_path):
    # SLAKE: a capitalised "Yes" gold gets the closed rule (exact match), a lowercase one the yes/no rule
    path = tmp_path / "predictions.jsonl"
    base = {"prompt_hash": "h", "kind": "yes_no", "response": "Yes, it does.", "options": {}, "fields": {}}
    lines = [base | {"id": "1", "answer": "Yes", "answer_type": "CLOSED"},
             base | {"id": "2", "answer": "yes", "answer_type": "CLOSED"},
             # written before records carried answer_type: it is read from the breakdown fields (OPEN: raw
             # exact match, so the full stop counts; as a closed question it would not)
             base | {"id": "3", "answer": "Yes", "fields": {"answer_type": "OPEN"}, "response": "Yes."}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    slake = {r["id"]: r["correct"] for r in score_file(path, "medevalkit", bench=discover()["slake"])[0]}
    assert slake == {"1": False, "2": True, "3": False}
    default = {r["id"]: r["correct"] for r in score_file(path, "medevalkit")[0]}  # no benchmark: yes/no for any case
    assert default == {"1": True, "2": True, "3": True}
