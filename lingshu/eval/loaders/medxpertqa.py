"""MedXpertQA as on the Hugging Face hub (`TsinghuaC3I/MedXpertQA`): `MM/test.jsonl`, `Text/test.jsonl`, `images/`.

Each line: id ("MM-26" / "Text-1"), question (ending with the choices as "Answer Choices: (A) ..."),
options (a dict letter -> text: 5 for MM, 10 for Text), label (the letter), images (file names in
`images.zip`; MM only), medical_task, body_system, question_type. The inline "Answer Choices" are cut
from the question because the prompt lists `options` itself; the question as published is kept in
`verbatim` (MedEvalKit asks it with the inline choices and its own option list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, image, read_records, relative
from lingshu.eval.loaders.mcq_jsonl import split_inline_options


@register("medxpertqa_jsonl")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root)
    image_dir = relative(path.parent, bench.options.get("image_dir", "../images"))
    for number, record in enumerate(read_records(path), 1):
        options = {str(k): str(v) for k, v in (record.get("options") or {}).items() if v is not None}
        letter = str(record["label"]).strip().upper()
        if letter not in options:
            raise ValueError(f"{path}:{number}: label {letter!r} is not among options {sorted(options)}")
        yield EvalItem(
            id=str(record["id"]),
            question=split_inline_options(str(record["question"]))[0].strip(),
            answer=letter,
            options=options,
            images=[image(bench, image_dir / name) for name in record.get("images") or []],
            fields={"medical_task": record.get("medical_task"), "body_system": record.get("body_system"),
                    "question_type": record.get("question_type")},
            verbatim={"question": str(record["question"])},
        )
