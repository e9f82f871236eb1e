"""OmniMedVQA, open-access part: `QA_information/Open-access/*.json` (one list per source dataset) + `Images/`.

Each record: dataset, question_id, question_type, question, gt_answer, image_path (relative to the
release folder), option_A..option_D (two to four of them), modality_type. One published record (in
"Chest CT Scan.json") spells modality_type as `modality`; both are read. The gold answer is given as
text, so the answer letter is the option equal to gt_answer; records where no option matches cannot be
scored and are skipped with a count (MedEvalKit silently keeps the text as the "letter" instead).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, folder, image, report_skipped


@register("omnimedvqa_json")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    base = data_path(bench, root, "folder")
    qa_dir = folder(bench, base / bench.options.get("qa_dir", "QA_information/Open-access"), "QA folder")
    skipped, total = Counter(), 0
    for file in sorted(qa_dir.glob("*.json")):
        for record in json.loads(file.read_text(encoding="utf-8")):
            total += 1
            options = {k: str(record[f"option_{k}"]).strip() for k in "ABCDEFGH" if f"option_{k}" in record}
            gold = str(record["gt_answer"]).strip()
            letter = next((k for k, v in options.items() if v == gold), None)
            if letter is None:
                skipped["gt_answer equals none of the options"] += 1
                continue
            yield EvalItem(
                id=str(record["question_id"]),
                question=str(record["question"]).strip(),
                answer=letter,
                options=options,
                images=[image(bench, base / record["image_path"])],
                fields={"question_type": record.get("question_type"),
                        "modality_type": record.get("modality_type", record.get("modality")),
                        "dataset": record.get("dataset", file.stem)},
            )
    report_skipped(bench, skipped, total)
