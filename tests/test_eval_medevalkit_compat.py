"""`--protocol medevalkit` agrees with MedEvalKit itself, prompt for prompt and judgment for judgment.

tests/fixtures/medevalkit/judgments.jsonl holds what MedEvalKit's own code (commit 9b12e3b) did with
designed items and responses on every benchmark it shares with us (make_fixture.py beside it wrote it,
once, offline; the fixture holds facts, not MedEvalKit's code). Each item is as our loader reads it;
the prompt is MedEvalKit's string; each response carries MedEvalKit's judgment, or the error it raised,
or -- for MMMU -- the letters it picks one from at random.

`python tests/test_eval_medevalkit_compat.py` prints the agreement per benchmark.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lingshu.eval.benchmark import EvalItem, discover
from lingshu.eval.medevalkit_protocol import settings_of
from lingshu.eval.runner import build_prompt
from lingshu.eval.score import score_record

FIXTURE = Path(__file__).parent / "fixtures" / "medevalkit" / "judgments.jsonl"
LINES = [line for line in map(json.loads, FIXTURE.read_text(encoding="utf-8").splitlines()) if "benchmark" in line]
SHARED = {"vqa_rad", "slake", "slake_zh", "path_vqa", "pmc_vqa", "omnimedvqa", "mmmu_med", "medxpertqa_mm",
          "medxpertqa_text", "mmlu_medical", "pubmedqa", "medmcqa", "medqa", "medbullets_op4", "medbullets_op5",
          "supergpqa_medicine"}


def asked(line: dict) -> tuple[str, str]:
    """(kind, prompt) lingshu builds for the fixture's item under the medevalkit protocol."""
    return build_prompt(discover()[line["benchmark"]], EvalItem(**line["item"]), "medevalkit")


def disagreements(line: dict) -> list[str]:
    """Every way lingshu's medevalkit protocol differs from MedEvalKit on one fixture item, described."""
    bench, item = discover()[line["benchmark"]], line["item"]
    kind, prompt = asked(line)
    found = [] if line["prompt"] is None or prompt == line["prompt"] else [f"prompt {prompt!r} != {line['prompt']!r}"]
    for case in line["responses"]:
        record = {"id": item["id"], "kind": kind, "response": case["response"], "answer": item["answer"],
                  "options": item["options"], "answer_type": item["answer_type"], "verbatim": item["verbatim"]}
        ours = score_record(record, "medevalkit", settings_of(bench))
        if "random_among" in case:  # MMMU guesses: we score its expected value and say it was not parsed
            expected, parsed = 1 / len(case["random_among"]), False
        else:  # a MedEvalKit crash (an open answer that parses to nothing) can only be wrong
            expected, parsed = float(bool(case["correct"])), True
        if float(ours["correct"]) != expected or ours["parsed"] != parsed:
            found.append(f"{case['variant']} {case['response']!r}: ours {ours['correct']} / MedEvalKit {expected}")
    return found


def test_the_fixture_covers_every_shared_benchmark_and_kind():
    responses = [case for line in LINES for case in line["responses"]]
    assert len(responses) >= 200
    assert {line["benchmark"] for line in LINES} == SHARED
    kinds = Counter(asked(line)[0] for line in LINES for _ in line["responses"])
    assert all(kinds[kind] >= 20 for kind in ("mcq", "yes_no", "closed", "open")), kinds
    judged = Counter(case["correct"] for case in responses)
    assert judged[True] >= 50 and judged[False] >= 50, "both verdicts are well represented"
    assert any("random_among" in case for case in responses) and any("error" in case for case in responses)


@pytest.mark.parametrize("line", LINES, ids=[f"{line['benchmark']}:{line['item']['id']}" for line in LINES])
def test_prompts_and_judgments_agree_with_medevalkit(line):
    assert disagreements(line) == []


def test_mmlu_prompt_is_ours_where_medevalkit_raises():
    # MedEvalKit's MMLU prompt line references an undefined name; there is nothing to reproduce, so we ask
    # the standard multiple-choice prompt and judge as its cal_metrics would (bare option texts)
    line = next(line for line in LINES if line["benchmark"] == "mmlu_medical")
    assert line["prompt"] is None and line["prompt_error"].startswith("NameError")
    assert asked(line)[1].startswith(f"\nQuestion: {line['item']['question']}\nOptions: \nA. ")


def agreement() -> dict[str, tuple[int, int]]:
    """benchmark -> (fixture cases, prompts + judgments) agreeing, and their total."""
    table: dict[str, list[int]] = {}
    for line in LINES:
        total = len(line["responses"]) + (line["prompt"] is not None)
        row = table.setdefault(line["benchmark"], [0, 0])
        row[0] += total - len(disagreements(line))
        row[1] += total
    return {name: (right, total) for name, (right, total) in table.items()}


if __name__ == "__main__":
    rows = agreement()
    for name, (right, total) in sorted(rows.items()):
        print(f"{name:20} {right:4}/{total:<4} {100 * right / total:6.1f}%")
    right, total = map(sum, zip(*rows.values()))
    print(f"{'all':20} {right:4}/{total:<4} {100 * right / total:6.1f}%")
