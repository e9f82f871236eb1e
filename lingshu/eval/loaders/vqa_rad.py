"""VQA-RAD's official JSON release: the test split is the records whose phrase_type starts with "test"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register


@register("vqa_rad_json")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = root / bench.path
    image_dir = path.parent / bench.options.get("image_dir", "images")
    for record in json.loads(path.read_text()):
        if not str(record.get("phrase_type", "")).startswith(bench.split):
            continue
        yield EvalItem(
            id=str(record["qid"]),
            question=str(record["question"]).strip(),
            answer=str(record["answer"]).strip(),
            images=[image_dir / record["image_name"]],
            answer_type=str(record.get("answer_type", "")).strip().upper() or None,
            fields={"question_type": record.get("question_type"), "answer_type": record.get("answer_type"),
                    "organ": record.get("image_organ")},
        )
