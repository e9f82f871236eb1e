"""OmniMedVQA, open-access part: `QA_information/Open-access/*.json` (one list per source dataset) + `Images/`.

This folder is the one layout there is: the authors publish it (`foreverbeliever/OmniMedVQA` on the hub,
a zip of it) and MedEvalKit reads it. Each record: dataset, question_id, question_type, question,
gt_answer, image_path (relative to the release folder), option_A..option_D (two to four of them),
modality_type. One published record (in "Chest CT Scan.json") spells modality_type as `modality`; both
are read. The gold answer is given as text, so the answer letter is the option equal to gt_answer;
records where no option matches cannot be scored and are skipped with a count (MedEvalKit silently keeps
the text as the "letter" instead).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.common import folder, image_files, report_skipped
from lingshu.eval.tables import open_table


def _qa_dir(bench: Benchmark, base: Path) -> Path:
    return base / bench.options.get("qa_dir", "QA_information/Open-access")


def recognise(bench: Benchmark, path: Path) -> str | None:
    return None if _qa_dir(bench, path).is_dir() else f"no folder {_qa_dir(bench, path)} (options.qa_dir)"


def read(bench: Benchmark, root: Path, base: Path) -> Iterator[EvalItem]:
    qa_dir = folder(bench, _qa_dir(bench, base), "QA folder", "options.qa_dir")
    skipped, total = Counter(), 0
    for file in sorted(qa_dir.glob("*.json")):
        for row in open_table(file, bench.split).rows():
            record, total = row.record, total + 1
            options = {k: str(record[f"option_{k}"]).strip() for k in "ABCDEFGH" if f"option_{k}" in record}
            gold = str(need(record, "gt_answer", row.where)).strip()
            letter = next((k for k, v in options.items() if v == gold), None)
            if letter is None:
                skipped["gt_answer equals none of the options"] += 1
                continue
            yield EvalItem(
                id=str(need(record, "question_id", row.where)),
                question=str(need(record, "question", row.where)).strip(),
                answer=letter,
                options=options,
                fields={"question_type": record.get("question_type"),
                        "modality_type": record.get("modality_type", record.get("modality")),
                        "dataset": record.get("dataset", file.stem)},
                fetch=image_files(bench, [base / need(record, "image_path", row.where)]),
            )
    report_skipped(bench, skipped, total)


register("omnimedvqa", [Layout("published", "the release folder: QA_information/Open-access/*.json + Images/", read,
                               recognise=recognise)])
