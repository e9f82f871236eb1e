"""PMC-VQA's multiple-choice test CSV (`test_2.csv`, the version-2 non-compound set) and its figures.

Published columns (xmcmic/PMC-VQA README, MedEvalKit's reader): version 2 has index, Figure_path,
Caption, Question, Choice A..D, Answer (the letter), split; version 1 (`test.csv`) has Figure_path,
Question, Answer (the text), Choice A..D, Answer_label (the letter). Both are read: the letter comes
from Answer_label, else from Answer when it is a letter, else from the choice equal to Answer. Choices
carry their letter ("A:Diffuse uptake pattern"), which is stripped; the cells as written (and the question
unstripped) are kept in `verbatim`, which is what MedEvalKit puts in its prompt and gives its judge. `published` is the CSV (the hub's
`RadGenome/PMC-VQA`, which MedEvalKit reads, holds the same file); `hf` is the same columns as
parquet/arrow shards or a save_to_disk folder. An image is looked up in each folder of `options.image_dir`
in turn (default `figures`, then `images`, where MedEvalKit's download unzips them), relative to the data's folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.common import data_folder, image, relative
from lingshu.eval.tables import HF_KINDS, open_table

_PREFIX = re.compile(r"^\s*([A-Z])\s*[:.]\s*")
FIELDS = ("Figure_path", "Question", "Choice A", "Answer|Answer_label")


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


def first_image(bench: Benchmark, folders: list[Path], name: str):
    """An item's `fetch`: the figure from the first folder that has it; the error names every folder tried."""
    def fetch() -> list[Path]:
        found = next((folder / name for folder in folders if (folder / name).is_file()), None)
        if found is None:
            tried = ", ".join(str(folder) for folder in folders)
            raise FileNotFoundError(f"{bench.name}: image {name} not found in {tried} (options.image_dir)")
        return [image(bench, found)]
    return fetch


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    dirs = bench.options.get("image_dir", ["figures", "images"])
    folders = [relative(data_folder(path), d) for d in ([dirs] if isinstance(dirs, str) else dirs)]
    for row in open_table(path, bench.split).rows():
        record = row.record
        options = {k: choice_text(k, record[f"Choice {k}"]) for k in "ABCDEFGH" if str(record.get(f"Choice {k}") or "").strip()}
        letter = answer_letter(record, options)
        if letter not in options:
            raise ValueError(f"{row.where}: Answer {record.get('Answer')!r} is not among options {sorted(options)}")
        yield EvalItem(
            id=str(row.index + 1 if record.get("index") in (None, "") else record["index"]).strip(),
            question=str(need(record, "Question", row.where)).strip(),
            answer=letter,
            options=options,
            fetch=first_image(bench, folders, str(need(record, "Figure_path", row.where)).strip()),
            verbatim={"question": str(record["Question"]), "choices": {k: str(record[f"Choice {k}"]) for k in options}},
        )


register("pmc_vqa", [
    Layout("published", "test_2.csv (or version 1's test.csv) + figures/ or images/", read, fields=FIELDS, kinds=("csv",)),
    Layout("hf", "the same columns as parquet/arrow shards or save_to_disk (+ figures/ or images/)", read,
           fields=FIELDS, kinds=HF_KINDS),
])
