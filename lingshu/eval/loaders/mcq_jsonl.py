"""Multiple-choice JSON lines (MedQA, MMLU, MedMCQA as MedEvalKit ships them).

Options come as a dict, or inline in the question as "Answer Choices: (A) ... (B) ..."; the gold
answer as `answer_idx` (a letter) or `label` (a letter or a one-letter list). Every other top-level
scalar field is kept for breakdowns (subject, meta_info, ...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register

_INLINE = re.compile(r"\n?Answer Choices:\s*(.*)$", re.DOTALL)
_CHOICE = re.compile(r"\(([A-Z])\)\s*(.*?)(?=\s*\([A-Z]\)\s|\Z)", re.DOTALL)


def split_inline_options(question: str) -> tuple[str, dict[str, str]]:
    match = _INLINE.search(question)
    if not match:
        return question, {}
    return question[: match.start()].strip(), {k: v.strip() for k, v in _CHOICE.findall(match.group(1))}


def _letter(record: dict) -> str:
    value = record.get("answer_idx") or record.get("label") or ""
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else ""
    return str(value).strip().upper()


@register("mcq_jsonl")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    with open(root / bench.path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            question, options = str(record["question"]), record.get("options") or {}
            if not options:
                question, options = split_inline_options(question)
            letter = _letter(record)
            if letter not in options:
                raise ValueError(f"{bench.path}:{number}: answer {letter!r} is not among options {sorted(options)}")
            yield EvalItem(
                id=str(record.get("id", record.get("realidx", number))),
                question=question.strip(),
                answer=letter,
                options={k: str(v) for k, v in options.items()},
                fields={k: v for k, v in record.items() if isinstance(v, (str, int)) and k not in ("question", "answer",
                        "answer_idx", "id", "realidx")},
            )
