"""SLAKE, as officially released (Slake1.0: `test.json` plus `imgs/<img_name>`).

`test.json` is one list of QA records in both languages: qid, img_name (e.g. "xmlab102/source.jpg"),
question, answer, answer_type (OPEN/CLOSED), q_lang ("en"/"zh"), content_type, modality, location, ...
English and Chinese are separate benchmarks (`options.language`), as papers report them separately.
`published` is that file; `BoKelvin/SLAKE`, which MedEvalKit reads, holds the same files. `hf` is the same
records as parquet/arrow shards or a save_to_disk folder (images still in `imgs/`, relative to the data's folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.common import data_folder, image_files, relative
from lingshu.eval.tables import HF_KINDS, open_table

FIELDS = ("qid", "img_name", "question", "answer", "q_lang")


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    image_dir = relative(data_folder(path), bench.options.get("image_dir", "imgs"))
    language = bench.options.get("language", "en")
    for row in open_table(path, bench.split).rows():
        record = row.record
        if record.get("q_lang") != language:
            continue
        answer_type = str(record.get("answer_type") or "").strip().upper() or None
        yield EvalItem(
            id=str(need(record, "qid", row.where)),
            question=str(need(record, "question", row.where)).strip(),
            answer=str(need(record, "answer", row.where)).strip(),
            answer_type=answer_type,
            fields={"answer_type": answer_type, "content_type": record.get("content_type"),
                    "modality": record.get("modality"), "location": record.get("location")},
            fetch=image_files(bench, [image_dir / need(record, "img_name", row.where)]),
        )


register("slake", [
    Layout("published", "Slake1.0's test.json, a JSON list (+ imgs/)", read, fields=FIELDS, kinds=("json",)),
    Layout("hf", "the same records as parquet/arrow shards or save_to_disk (+ imgs/)", read, fields=FIELDS, kinds=HF_KINDS),
])
