"""Medbullets (Chen et al. 2024), 308 questions with 4 options (op4) or 5 (op5), in its layouts.

- `published`: HanjieChen/ChallengeClinicalQA's `medbullets_op4.csv` / `.json` (and op5): columns link,
  question, opa..opd (and ope), answer_idx (the letter), answer (its text), explanation. The JSON file is
  pandas' column table ({column: {row: value}}); CSV rows carry a few trailing empty cells, which are ignored.
- `hf`: the datasets MedEvalKit loads, their only split `train`: `tuenguyen/Medical-Eval-MedBullets_op4`
  (question, options {A..D}, answer_idx) and `LangAGI-Lab/medbullets_op5` (question, opa..ope, answer_idx),
  as parquet/arrow shards or a save_to_disk folder.
There is no id column: an item's id is its 1-based row number (the op4 and op5 files list the same
questions in different orders).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout
from lingshu.eval.loaders.mcq import mcq_item
from lingshu.eval.tables import HF_KINDS, TEXT_KINDS, open_table


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    for row in open_table(path, bench.split).rows():
        yield mcq_item(row, str(row.index + 1), fields={})


register("medbullets", [
    Layout("published", "medbullets_op4/op5.csv or .json (ChallengeClinicalQA): question, opa..ope, answer_idx", read,
           fields=("question", "opa", "answer_idx"), kinds=TEXT_KINDS),
    Layout("hf", "MedEvalKit's hub datasets (parquet/arrow shards or save_to_disk, split train): question, "
                 "options or opa..ope, answer_idx", read, fields=("question", "options|opa", "answer_idx"), kinds=HF_KINDS),
])
