"""PMC-VQA's multiple-choice test CSV (`test_2.csv`, the version-2 non-compound set; images in `figures/`).

Published columns (xmcmic/PMC-VQA README, MedEvalKit's reader): version 2 has index, Figure_path,
Caption, Question, Choice A..D, Answer (the letter), split; version 1 (`test.csv`) has Figure_path,
Question, Answer (the text), Choice A..D, Answer_label (the letter). Both are read: the letter comes
from Answer_label, else from Answer when it is a letter, else from the choice equal to Answer. Choices
carry their letter ("A:Diffuse uptake pattern"), which is stripped; the cells as written (and the question
unstripped) are kept in `verbatim`, which is what MedEvalKit puts in its prompt and gives its judge.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, image, read_records, relative

_PREFIX = re.compile(r"^\s*([A-Z])\s*[:.]\s*")


def choice_text(letter: str, value: str) -> str:
    value = str(value or "").strip()
    match = _PREFIX.match(value)
    return value[match.end():].strip() if match and match.group(1) == letter else value


def answer_letter(row: dict, options: dict[str, str]) -> str:
    label = str(row.get("Answer_label") or row.get("Anwser_label") or "").strip().upper()
    if label in options:
        return label
    answer = str(row.get("Answer") or "").strip()
    if answer.upper() in options:
        return answer.upper()
    return next((k for k, v in options.items() if v == choice_text(k, answer)), "")


@register("pmc_vqa_csv")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root)
    image_dir = relative(path.parent, bench.options.get("image_dir", "figures"))
    for number, row in enumerate(read_records(path), 1):
        options = {k: choice_text(k, row[f"Choice {k}"]) for k in "ABCDEFGH" if str(row.get(f"Choice {k}") or "").strip()}
        letter = answer_letter(row, options)
        if letter not in options:
            raise ValueError(f"{path}:{number + 1}: answer {row.get('Answer')!r} is not among options {sorted(options)}")
        yield EvalItem(
            id=str(row.get("index") or number).strip(),
            question=str(row["Question"]).strip(),
            answer=letter,
            options=options,
            images=[image(bench, image_dir / str(row["Figure_path"]).strip())],
            verbatim={"question": str(row["Question"]), "choices": {k: str(row[f"Choice {k}"]) for k in options}},
        )
