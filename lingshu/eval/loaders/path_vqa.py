"""PathVQA as on the Hugging Face hub (`flaviagiammarino/path-vqa`): parquet shards with image, question, answer.

Shards are `data/<split>-NNNNN-of-NNNNN-*.parquet`; `image` is a struct {bytes, path} holding the
picture itself. Those bytes are written once to `.cache/eval_images/<benchmark>/<sha256>.<ext>` (outside the data folder, which DVC tracks) so that
items point at files like every other benchmark. The rows have no id: an item's id is its split and
row number. The dataset has no answer_type: yes/no answers are the closed questions, the rest open
(the split used by the PathVQA paper and by MedEvalKit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_path, embedded_image, image_cache, parquet_files, parquet_rows


@register("path_vqa_parquet")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    path = data_path(bench, root, "file or folder")
    cache = image_cache(root, bench)
    rows = parquet_rows(parquet_files(bench, path, bench.split), ["image", "question", "answer"])
    for number, row in enumerate(rows):
        picture = embedded_image(row["image"], cache)
        if picture is None:
            raise ValueError(f"{bench.name}: {bench.split} row {number} has no image bytes")
        answer = str(row["answer"]).strip()
        answer_type = "CLOSED" if answer.lower() in ("yes", "no") else "OPEN"
        yield EvalItem(id=f"{bench.split}-{number}", question=str(row["question"]).strip(), answer=answer,
                       images=[picture], answer_type=answer_type, fields={"answer_type": answer_type})
