"""Multiple-choice questions as JSON Lines (MedQA, MMLU-medical, MedMCQA as distributed by MedEvalKit).

Each line has a `question`, an id (`realidx` or `id`), and optionally `options` (a dict, or its
Python-literal string form), `answer_idx`/`label` and `answer`. Lines that are not UTF-8 or not JSON,
or that lack a question, are rejected one by one.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import finish, id_of, iter_lines, parse_json_line, qa_turns, rel, reject, text_field


def _options(value) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError) as exc:
            raise BadRecord("invalid_field", f"options: {exc}") from exc
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _answer_letter(record: dict) -> str:
    """The gold letter from `answer_idx` or `label`: "B", or a list literal such as "['B']" (MedEvalKit's form)."""
    letter = record.get("answer_idx") or record.get("label") or ""
    if isinstance(letter, str) and letter.strip().startswith("["):
        try:
            parsed = ast.literal_eval(letter.strip())
        except (ValueError, SyntaxError) as exc:
            raise BadRecord("invalid_field", f"answer_idx {letter!r} is not a list literal: {exc}") from exc
        if not isinstance(parsed, list) or len(parsed) > 1 or not all(isinstance(x, str) for x in parsed):
            raise BadRecord("invalid_field", f"answer_idx {letter!r} must list one letter")
        letter = parsed[0] if parsed else ""
    if not isinstance(letter, str):
        raise BadRecord("invalid_field", f"answer_idx must be a letter, got {type(letter).__name__}")
    return letter.strip()


@register("mcq_jsonl")
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    path = repo / src.path
    file = rel(path, repo)
    for number, text, _raw in iter_lines(path):
        record_id = f"line{number}"
        try:
            record = parse_json_line(number, text)
            record_id = id_of(record, ("realidx", "id"), record_id)
            question = text_field(record, "question")
            options = _options(record.get("options"))
            letter = _answer_letter(record)
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"line={number}")
            continue
        listed = "".join(f"\n{k}. {v}" for k, v in options.items())
        prompt = f"Question: {question}\nOptions:{listed}\nAnswer with the option's letter." if options else question
        answer = letter or str(record.get("answer") or "")
        if options and letter in options:
            answer = f"{letter}. {options[letter]}"
        yield finish(
            Sample(
                id=f"{src.name}:{record_id}",
                source=src.name,
                group=src.group,
                task="mcq",
                conversations=qa_turns(prompt, answer or "unknown", 0),
                modality="text",
                licence=src.licence,
                split=src.split,
                provenance_file=file,
                provenance_record=f"line={number}",
                meta={"question": question, "answer": letter, "options": options,
                      "subject": str(record.get("subject") or record.get("subject_name") or "")},
            )
        )
