"""Medbullets (Chen et al. 2024) as released in HanjieChen/ChallengeClinicalQA: `medbullets_op4.csv`, `medbullets_op5.csv`.

Columns: link, question, opa..opd (and ope in op5), answer_idx (the letter), answer (its text),
explanation; rows carry a few trailing empty cells, which are ignored. There is no id column: an item's
id is its 1-based row number (the op4 and op5 files list the same questions in different orders).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, read_records


@register("medbullets_csv")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root)
    for number, row in enumerate(read_records(path), 1):
        options = {chr(65 + i): str(row[f"op{c}"]).strip() for i, c in enumerate("abcdefgh")
                   if str(row.get(f"op{c}") or "").strip()}
        letter = str(row["answer_idx"]).strip().upper()
        if letter not in options:
            raise ValueError(f"{path}: row {number}: answer_idx {letter!r} is not among options {sorted(options)}")
        yield EvalItem(id=str(number), question=str(row["question"]).strip(), answer=letter, options=options)
