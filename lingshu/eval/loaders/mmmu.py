"""MMMU (Health & Medicine subjects) from the Hugging Face hub `MMMU/MMMU`: `<Subject>/<split>-*.parquet`.

Columns: id, question (with "<image N>" placeholders), options (a Python-literal list as a string),
explanation, image_1..image_7 ({bytes, path} or null), img_type, answer (a letter for multiple-choice),
topic_difficulty, question_type ("multiple-choice" / "open"), subfield. Images are written once to
`.cache/eval_images/<benchmark>/` and listed in index order, so the i-th image is "<image i>" of the text.

The test split's answers are hidden ("?"): such records are skipped with a count rather than crashing
as MedEvalKit's MMMU-test path does (it indexes the options with ord("?") - ord("A")), which is why the
YAML uses the validation split. Open questions cannot be scored as multiple choice and are skipped with
a count too.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, embedded_image, folder, image_cache, parquet_files, parquet_rows, report_skipped

SUBJECTS = ["Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
            "Public_Health"]
_COLUMNS = ["id", "question", "options", "answer", "question_type", "subfield", "img_type", "topic_difficulty",
            *[f"image_{i}" for i in range(1, 8)]]


def parse_options(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    parsed = ast.literal_eval(str(value)) if str(value).strip() else []
    return [str(v) for v in parsed]


@register("mmmu_parquet")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    base = data_path(bench, root, "folder")
    cache = image_cache(root, bench)
    skipped, total = Counter(), 0
    for subject in bench.options.get("subjects", SUBJECTS):
        files = parquet_files(bench, folder(bench, base / subject, f"subject folder ({subject})"), bench.split)
        for row in parquet_rows(files, _COLUMNS):
            total += 1
            answer = str(row.get("answer") or "").strip()
            if answer in ("", "?"):
                skipped["answer hidden ('?'), as in MMMU's test split"] += 1
                continue
            if row.get("question_type") != "multiple-choice":
                skipped["open question, not multiple choice"] += 1
                continue
            options = {chr(65 + i): text for i, text in enumerate(parse_options(row["options"]))}
            if answer.upper() not in options:
                skipped["answer is not one option letter"] += 1
                continue
            images = [embedded_image(row.get(f"image_{i}"), cache) for i in range(1, 8)]
            yield EvalItem(
                id=str(row["id"]),
                question=str(row["question"]).strip(),
                answer=answer.upper(),
                options=options,
                images=[p for p in images if p is not None],
                fields={"subject": subject, "subfield": row.get("subfield"), "img_type": row.get("img_type"),
                        "topic_difficulty": row.get("topic_difficulty")},
            )
    report_skipped(bench, skipped, total)
