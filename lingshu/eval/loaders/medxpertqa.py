"""MedXpertQA (`TsinghuaC3I/MedXpertQA`): `MM/test.jsonl`, `Text/test.jsonl` and `images/` (from images.zip).

Each record: id ("MM-26" / "Text-1"), question (ending with the choices as "Answer Choices: (A) ..."),
options, label (the letter), images (MM only), medical_task, body_system, question_type. The hub's files
(`published`, which MedEvalKit reads too) give options as a dict letter -> text, label as a letter and
images as file names; the copy in the authors' GitHub repository (eval/data/medxpertqa/input) gives options
as a list of {letter, content}, label as a one-letter list and images as {image_path}; other copies use
`realidx`/`answer_idx`. All of these are read. `hf` is the same dataset as parquet/arrow shards or a
save_to_disk folder. The inline "Answer Choices" are cut from the question because the prompt lists
`options` itself; the question as published is kept in `verbatim` (MedEvalKit asks it with the inline
choices and its own option list). Images are looked up in `options.image_dir`, relative to the data file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, first_of
from lingshu.eval.loaders.common import data_folder, image_files, relative
from lingshu.eval.loaders.mcq import mcq_item
from lingshu.eval.tables import HF_KINDS, TEXT_KINDS, open_table

FIELDS = ("id|realidx", "question", "options", "label|answer_idx")


def image_names(value, where: str) -> list[str]:
    """File names from a list of names or of {image_path} records."""
    names = [first_of(v, ("image_path", "path", "name"), where) if isinstance(v, dict) else v for v in value or []]
    return [str(name) for name in names]


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    image_dir = relative(data_folder(path), bench.options.get("image_dir", "../images"))
    for row in open_table(path, bench.split).rows():
        fields = {k: row.record.get(k) for k in ("medical_task", "body_system", "question_type")}
        item = mcq_item(row, str(first_of(row.record, ("id", "realidx"), row.where)), fields=fields)
        item.verbatim = {"question": str(row.record["question"])}
        item.fetch = image_files(bench, [image_dir / n for n in image_names(row.record.get("images"), row.where)])
        yield item


register("medxpertqa", [
    Layout("published", "MM/test.jsonl or Text/test.jsonl (+ images/): id, question, options, label, images", read,
           fields=FIELDS, kinds=TEXT_KINDS),
    Layout("hf", "TsinghuaC3I/MedXpertQA as parquet/arrow shards or save_to_disk, the same fields (+ images/)", read,
           fields=FIELDS, kinds=HF_KINDS),
])
