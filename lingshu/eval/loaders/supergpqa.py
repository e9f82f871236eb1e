"""SuperGPQA (`m-a-p/SuperGPQA`, `SuperGPQA-all.jsonl`, or its parquet conversion), one discipline of it.

Each record: uuid, question, options (a list), answer (text), answer_letter, discipline, field,
subfield, difficulty, is_calculation. Only `options.discipline` (default "Medicine") is kept. The
breakdown keys keep their own values: `field` is the field and `subfield` the subfield (MedEvalKit's
report swaps its per-field and per-difficulty tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, read_records


@register("supergpqa")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root)
    discipline = bench.options.get("discipline", "Medicine")
    for number, record in enumerate(read_records(path), 1):
        if record.get("discipline") != discipline:
            continue
        options = {chr(65 + i): str(text) for i, text in enumerate(record["options"])}
        letter = str(record.get("answer_letter") or "").strip().upper()
        if letter not in options:
            letter = next((k for k, v in options.items() if v == str(record.get("answer"))), letter)
        if letter not in options:
            raise ValueError(f"{path}:{number}: answer {letter!r} is not among options {sorted(options)}")
        yield EvalItem(
            id=str(record["uuid"]),
            question=str(record["question"]).strip(),
            answer=letter,
            options=options,
            fields={"discipline": record.get("discipline"), "field": record.get("field"),
                    "subfield": record.get("subfield"), "difficulty": record.get("difficulty")},
        )
