"""Image, question, answer rows as on the Hugging Face hub (`flaviagiammarino/path-vqa`, `flaviagiammarino/vqa-rad`).

Shards are `data/<split>-NNNNN-of-NNNNN-*.parquet` (or a save_to_disk folder); `image` is a struct {bytes,
path} holding the picture itself. Those bytes are written once, for the items a run keeps, to
`.cache/eval_images/<benchmark>/<sha256>.<ext>` (outside the data folder, which DVC tracks) so that items
point at files like every other benchmark. The rows have no id: an item's id is its split and row index.
They have no answer_type either: yes/no answers are the closed questions, the rest open (the split used
by the PathVQA paper and by MedEvalKit). PathVQA's own release (pickled Python objects) is not read:
unpickling a download runs whatever code it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.common import embedded_images, image_cache
from lingshu.eval.tables import HF_KINDS, open_table


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    cache = image_cache(root, bench)
    for row in open_table(path, bench.split).rows():
        answer = str(need(row.record, "answer", row.where)).strip()
        answer_type = "CLOSED" if answer.lower() in ("yes", "no") else "OPEN"
        yield EvalItem(id=f"{bench.split}-{row.index}", question=str(need(row.record, "question", row.where)).strip(),
                       answer=answer, answer_type=answer_type, fields={"answer_type": answer_type},
                       fetch=embedded_images([need(row.record, "image", row.where)], cache, row.where))


HF = Layout("hf", "parquet/arrow shards or save_to_disk of rows: image, question, answer", read,
            fields=("image", "question", "answer"), kinds=HF_KINDS)
register("image_qa", [HF])
