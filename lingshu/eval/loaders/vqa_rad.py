"""VQA-RAD's official JSON release: the test split is the records whose phrase_type starts with "test".

`options.question_types` keeps only the questions of those types (e.g. MODALITY, PLANE, ORGAN: the ones
the image alone answers), which is how `vqa_rad_image_types` audits whether a model looks at its images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register


def test_records(bench: Benchmark, root: Path) -> list[dict]:
    """The records of the benchmark's split (VQA-RAD marks it in phrase_type: test_freeform / test_para)."""
    return [r for r in json.loads((root / bench.path).read_text()) if str(r.get("phrase_type", "")).startswith(bench.split)]


@register("vqa_rad_json")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    image_dir = (root / bench.path).parent / bench.options.get("image_dir", "images")
    types = {str(t).upper() for t in bench.options.get("question_types", [])}
    for record in test_records(bench, root):
        if types and str(record.get("question_type", "")).upper() not in types:
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
