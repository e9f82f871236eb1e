"""SLAKE, as officially released (Slake1.0: `test.json` plus `imgs/<img_name>`).

`test.json` is one list of QA records in both languages: qid, img_name (e.g. "xmlab102/source.jpg"),
question, answer, answer_type (OPEN/CLOSED), q_lang ("en"/"zh"), content_type, modality, location, ...
English and Chinese are separate benchmarks (`options.language`), as papers report them separately.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, image, relative


@register("slake_json")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root)
    image_dir = relative(path.parent, bench.options.get("image_dir", "imgs"))
    language = bench.options.get("language", "en")
    for record in json.loads(path.read_text(encoding="utf-8")):
        if record.get("q_lang") != language:
            continue
        answer_type = str(record.get("answer_type") or "").strip().upper() or None
        yield EvalItem(
            id=str(record["qid"]),
            question=str(record["question"]).strip(),
            answer=str(record["answer"]).strip(),
            images=[image(bench, image_dir / record["img_name"])],
            answer_type=answer_type,
            fields={"answer_type": answer_type, "content_type": record.get("content_type"),
                    "modality": record.get("modality"), "location": record.get("location")},
        )
