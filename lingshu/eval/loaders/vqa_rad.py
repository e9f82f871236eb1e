"""VQA-RAD in two layouts: its official JSON release (`published`) and `flaviagiammarino/vqa-rad` (`hf`, the
dataset MedEvalKit loads: image, question, answer rows, read as lingshu.eval.loaders.image_qa reads them).

In the release the test split is the records whose phrase_type starts with "test". `options.question_types`
keeps only the questions of those types (e.g. MODALITY, PLANE, ORGAN: the ones the image alone answers),
which is how `vqa_rad_image_types` audits whether a model looks at its images; the hub's rows have no
question type, so that option needs the release. Ids differ between the layouts (the release's qid; the
hub's split and row), and so does a `--limit` sample.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders import image_qa
from lingshu.eval.loaders.common import data_folder, image_files
from lingshu.eval.tables import open_table

FIELDS = ("qid", "image_name", "question", "answer", "phrase_type")


def test_records(bench: Benchmark, path: Path) -> list[dict]:
    """The records of the benchmark's split (VQA-RAD marks it in phrase_type: test_freeform / test_para)."""
    return [row.record for row in open_table(path, bench.split).rows()
            if str(row.record.get("phrase_type", "")).startswith(bench.split)]


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    image_dir = data_folder(path) / bench.options.get("image_dir", "images")
    types = {str(t).upper() for t in bench.options.get("question_types", [])}
    for record in test_records(bench, path):
        if types and str(record.get("question_type", "")).upper() not in types:
            continue
        where = f"{path} qid {record.get('qid')}"
        yield EvalItem(
            id=str(need(record, "qid", where)),
            question=str(need(record, "question", where)).strip(),
            answer=str(need(record, "answer", where)).strip(),
            answer_type=str(record.get("answer_type", "")).strip().upper() or None,
            fields={"question_type": record.get("question_type"), "answer_type": record.get("answer_type"),
                    "organ": record.get("image_organ")},
            fetch=image_files(bench, [image_dir / need(record, "image_name", where)]),
        )


def read_hf(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    if bench.options.get("question_types"):
        raise ValueError(f"{bench.name}: `options.question_types` in {bench.source_file} needs the field question_type, "
                         f"which {path} (layout hf: image, question, answer) does not have; use the published JSON")
    return image_qa.read(bench, root, path)


PUBLISHED = Layout("published", "the official VQA_RAD Dataset Public.json, a JSON list (+ images/)", read,
                   fields=FIELDS, kinds=("json",))
register("vqa_rad", [PUBLISHED, replace(image_qa.HF, read=read_hf)])
