"""SuperGPQA (`m-a-p/SuperGPQA`), one discipline of it (`options.discipline`, default "Medicine").

Each record: uuid, question, options (a list), answer (text), answer_letter, discipline, field, subfield,
difficulty, is_calculation. `published` is the hub repository's `SuperGPQA-all.jsonl` (its authors publish
it there); `hf` is the same dataset as MedEvalKit loads it (`load_dataset(...)["train"]`, its only split),
as parquet/arrow shards or a save_to_disk folder. The breakdown keys keep their own values: `field` is the
field and `subfield` the subfield (MedEvalKit's report swaps its per-field and per-difficulty tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.mcq import mcq_item
from lingshu.eval.tables import HF_KINDS, TEXT_KINDS, open_table

FIELDS = ("uuid", "question", "options", "answer_letter|answer", "discipline")


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    discipline = bench.options.get("discipline", "Medicine")
    for row in open_table(path, bench.split).rows():
        if need(row.record, "discipline", row.where) != discipline:
            continue
        fields = {k: row.record.get(k) for k in ("discipline", "field", "subfield", "difficulty")}
        yield mcq_item(row, str(need(row.record, "uuid", row.where)), fields=fields)


register("supergpqa", [
    Layout("published", "SuperGPQA-all.jsonl: uuid, question, options (a list), answer_letter, discipline, ...", read,
           fields=FIELDS, kinds=TEXT_KINDS),
    Layout("hf", "m-a-p/SuperGPQA as parquet/arrow shards or save_to_disk (split train), the same fields", read,
           fields=FIELDS, kinds=HF_KINDS),
])
