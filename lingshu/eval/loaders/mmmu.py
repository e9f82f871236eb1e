"""MMMU (Health & Medicine subjects) from the Hugging Face hub `MMMU/MMMU`: `<Subject>/<split>-*.parquet`.

Its authors publish it there and MedEvalKit loads it from there, so `hf` is the one layout: one folder per
subject holding its parquet shards (or a save_to_disk folder per subject). Columns: id, question (with
"<image N>" placeholders), options (a Python-literal list as a string), explanation, image_1..image_7
({bytes, path} or null), img_type, answer (a letter for multiple-choice), topic_difficulty, question_type
("multiple-choice" / "open"), subfield. Images are written once, for the items a run keeps, to
`.cache/eval_images/<benchmark>/` and listed in index order, so the i-th image is "<image i>" of the text.

The test split's answers are hidden ("?"): such records are skipped with a count rather than crashing
as MedEvalKit's MMMU-test path does (it indexes the options with ord("?") - ord("A")), which is why the
YAML uses the validation split. Open questions cannot be scored as multiple choice and are skipped with
a count too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.choices import listed_options
from lingshu.eval.loaders.common import embedded_images, folder, image_cache, report_skipped, subfolders_problem
from lingshu.eval.tables import open_table

SUBJECTS = ["Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
            "Public_Health"]


def _subjects(bench: Benchmark) -> list[str]:
    return list(bench.options.get("subjects", SUBJECTS))


def recognise(bench: Benchmark, path: Path) -> str | None:
    return subfolders_problem(path, _subjects(bench), "options.subjects")


def read(bench: Benchmark, root: Path, base: Path) -> Iterator[EvalItem]:
    cache = image_cache(root, bench)
    skipped, total = Counter(), 0
    for subject in _subjects(bench):
        table = open_table(folder(bench, base / subject, f"subject folder ({subject})", "options.subjects"), bench.split)
        for row in table.rows():
            record, total = row.record, total + 1
            answer = str(record.get("answer") or "").strip()
            if answer in ("", "?"):
                skipped["answer hidden ('?'), as in MMMU's test split"] += 1
                continue
            if record.get("question_type") != "multiple-choice":
                skipped["open question, not multiple choice"] += 1
                continue
            options = listed_options(need(record, "options", row.where), row.where)
            if answer.upper() not in options:
                skipped["answer is not one option letter"] += 1
                continue
            cells = [record[f"image_{i}"] for i in range(1, 8) if record.get(f"image_{i}") is not None]
            yield EvalItem(
                id=str(need(record, "id", row.where)),
                question=str(need(record, "question", row.where)).strip(),
                answer=answer.upper(),
                options=options,
                fields={"subject": subject, "subfield": record.get("subfield"), "img_type": record.get("img_type"),
                        "topic_difficulty": record.get("topic_difficulty")},
                fetch=embedded_images(cells, cache, row.where, required=False),
            )
    report_skipped(bench, skipped, total)


register("mmmu", [Layout("hf", "MMMU/MMMU: <Subject>/<split>-*.parquet (or a save_to_disk folder per subject)", read,
                         recognise=recognise)])
