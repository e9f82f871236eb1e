"""Multiple-choice training questions as JSON Lines (a MedQA-style train split, an exam-question dump).

Each line has a `question` and an id (`id`, else `realidx`: the evaluation's precedence); options and the
answer are read by the evaluation's own conventions (lingshu.eval.loaders.choices: an options dict, list or
its Python-literal text, `opa`..`ope` columns, or "Answer Choices:" inline in the question; a letter in
`answer_idx`/`label`, an index in `cop`, or the option's text in `answer`). So a training question is
matched against the benchmarks on the same text the evaluation asks (the question without inline
choices). A question without options (or without an answer) is kept with its `answer` text, if any. Lines that are
not UTF-8 or not JSON, lack a question or have an answer that fits no option are rejected one by one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import finish, id_of, iter_lines, parse_json_line, qa_turns, rel, reject, text_field


def _choices(record: dict, where: str) -> tuple[str, dict[str, str], str]:
    """(question, options, gold letter or "") through the evaluation's option and answer conventions."""
    from lingshu.eval.loaders.choices import answer_letter, question_and_options
    from lingshu.eval.loaders.mcq import ANSWER_FIELDS

    try:
        question, options = question_and_options(record, where, required=False)
        given = any(record.get(name) not in (None, "", []) for name in ANSWER_FIELDS.split("|"))
        letter = answer_letter(record, options, where) if options and given else ""
    except (ValueError, SyntaxError) as exc:
        raise BadRecord("invalid_field", str(exc)) from exc
    return question, options, letter


@register("mcq_jsonl")
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    path = repo / src.path
    file = rel(path, repo)
    for number, text, _raw in iter_lines(path):
        record_id = f"line{number}"
        try:
            record = parse_json_line(number, text)
            record_id = id_of(record, ("id", "realidx"), record_id)
            text_field(record, "question")
            question, options, letter = _choices(record, f"{file}:{number}")
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"line={number}")
            continue
        listed = "".join(f"\n{k}. {v}" for k, v in options.items())
        prompt = f"Question: {question}\nOptions:{listed}\nAnswer with the option's letter." if options else question
        answer = f"{letter}. {options[letter]}" if letter else str(record.get("answer") or "")
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
