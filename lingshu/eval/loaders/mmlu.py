"""MMLU's medical subjects (`options.subjects`) in their three layouts.

- `medagents`: MedAgentsBench's JSON lines (the file shipped under data/benchmarks): realidx, question,
  options {A..D}, answer_idx, subject, answer.
- `hf`: `cais/mmlu`, the dataset MedEvalKit loads: one folder per subject (`anatomy/test-00000-of-00001.parquet`,
  or a save_to_disk folder per subject) with question, subject, choices (a list), answer (its index from 0).
- `published`: the authors' data.tar: headerless CSVs `test/<subject>_test.csv` (question, A, B, C, D, the
  answer letter), under the folder `path` names.
In `hf` and `published` an item's id is `<subject>-<row>`, the same in both; MedAgentsBench's `realidx` numbers
the questions differently, so its `--limit` sample differs.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout
from lingshu.eval.loaders.common import not_found, subfolders_problem
from lingshu.eval.loaders.mcq import ANSWER_FIELDS, mcq_item, mcq_reader
from lingshu.eval.tables import TEXT_KINDS, Row, open_table

SUBJECTS = ["anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
            "professional_medicine"]


def _subjects(bench: Benchmark) -> list[str]:
    return list(bench.options.get("subjects", SUBJECTS))


def _csv_file(bench: Benchmark, path: Path, subject: str) -> Path | None:
    name = f"{subject}_{bench.split}.csv"
    return next((p for p in (path / bench.split / name, path / name) if p.is_file()), None)


def _recognise_hf(bench: Benchmark, path: Path) -> str | None:
    return subfolders_problem(path, _subjects(bench), "options.subjects")


def _recognise_csv(bench: Benchmark, path: Path) -> str | None:
    if not path.is_dir():
        return "it is a file, this layout is a folder of <subject>_<split>.csv files"
    absent = [s for s in _subjects(bench) if _csv_file(bench, path, s) is None]
    return f"no {', '.join(f'{bench.split}/{s}_{bench.split}.csv' for s in absent)}" if absent else None


def _read_hf(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    for subject in _subjects(bench):
        for row in open_table(path / subject, bench.split).rows():
            yield mcq_item(row, f"{subject}-{row.index}", fields={"subject": subject})


def _read_csv(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    for subject in _subjects(bench):
        file = _csv_file(bench, path, subject)
        if file is None:
            raise not_found(bench, f"{subject} CSV ({subject}_{bench.split}.csv) under", path)
        with open(file, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            for index, cells in enumerate(reader):
                where = f"{file}:{reader.line_num}"
                if len(cells) != 6:
                    raise ValueError(f"{where}: {len(cells)} cells; expected question, A, B, C, D, answer (no header)")
                record = {"question": cells[0], "choices": cells[1:5], "answer": cells[5]}
                yield mcq_item(Row(where, index, record), f"{subject}-{index}", fields={"subject": subject})


def _read_medagents(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    subjects = set(_subjects(bench))
    for item in mcq_reader()(bench, root, path):
        if item.fields.get("subject") in subjects or "subject" not in item.fields:
            yield item


register("mmlu", [
    Layout("medagents", "MedAgentsBench's JSON lines: realidx, question, options, answer_idx, subject", _read_medagents,
           fields=("question", "options", ANSWER_FIELDS), kinds=TEXT_KINDS),
    Layout("hf", "cais/mmlu: <subject>/<split>-*.parquet (or a save_to_disk folder per subject): question, choices, answer",
           _read_hf, recognise=_recognise_hf),
    Layout("published", "the authors' headerless CSVs <split>/<subject>_<split>.csv: question, A, B, C, D, answer",
           _read_csv, recognise=_recognise_csv),
])
