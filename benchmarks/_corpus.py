"""A seeded corpus of any size in the curated schema, to measure the training data path at scale.

Rows are shaped like the curated groups: VQA with one image (medical_multimodal), captions with one
image (medical_caption), multi-turn dialogues (general_text) and text MCQs (medical_text), 5% of them in
the test split. Their text is drawn from a fixed pool of pseudo-word sentences, one to a dozen sentences
per turn, so lengths spread widely and packing has work to do. Images come from a small pool of real
files copied from data/images (keys are content hashes, so copies keep their names), shared by many
rows: a million rows cost about 0.4 GB of Parquet (and 0.9 GB of Arrow cache) and 1 MB of images.

Tables are written in shards of SHARD_ROWS rows (`<group>/part-NNNNN.parquet`, the layout
lingshu.train.tables reads next to one file per group) with row groups of ROW_GROUP_ROWS, whatever the
corpus size. Converting a file to Arrow holds one row group in memory, and each length-map process reads
its part of one file; shards of one size let a measurement at 10x the rows show what grows with the
corpus rather than with its files.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

GROUPS = (("medical_multimodal", "vqa", 0.40), ("medical_caption", "caption", 0.20), ("general_text", "dialogue", 0.25),
          ("medical_text", "mcq", 0.15))
SHARD_ROWS = 50_000
ROW_GROUP_ROWS = 10_000


def _sentences(rng: random.Random, n: int = 20_000) -> list[str]:
    syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(3000)]
    return [" ".join(rng.choices(words, k=rng.randint(4, 24))).capitalize() + "." for _ in range(n)]


def _text(rng: random.Random, sentences: list[str], most: int) -> str:
    return " ".join(rng.choices(sentences, k=min(most, 1 + int(rng.expovariate(0.5)))))


def _row(i: int, group: str, task: str, rng: random.Random, sentences: list[str], images: list[str]) -> dict:
    turns, keys, meta = [], [], {}
    if task in ("vqa", "caption"):
        keys = [rng.choice(images)]
        question = _text(rng, sentences, 2) if task == "vqa" else "Describe this medical image."
        answer = _text(rng, sentences, 2 if task == "vqa" else 12)
        turns = [{"role": "user", "content": "<image>" + question}, {"role": "assistant", "content": answer}]
        meta = {"question": question, "answer": answer} if task == "vqa" else {}
    elif task == "dialogue":
        for _ in range(rng.randint(1, 3)):
            turns += [{"role": "user", "content": _text(rng, sentences, 3)},
                      {"role": "assistant", "content": _text(rng, sentences, 5)}]
    else:
        options = {letter: _text(rng, sentences, 1) for letter in "ABCD"}
        question = _text(rng, sentences, 6)
        gold = rng.choice("ABCD")
        turns = [{"role": "user", "content": question + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())},
                 {"role": "assistant", "content": f"{gold}. {options[gold]}"}]
        meta = {"question": question, "options": options, "answer": gold}
    return {"id": f"bench:{group}:{i}", "source": "bench", "group": group, "task": task, "conversations": turns,
            "images": keys, "modality": "ct" if keys else "text", "modality_source": "metadata", "body_part": None,
            "licence": "CC0", "split": "test" if rng.random() < 0.05 else "train",
            "provenance": {"file": "benchmarks/_corpus.py", "record": str(i)}, "meta": json.dumps(meta)}


def write_corpus(root: Path, rows: int, seed: int, image_source: Path, pool: int = 32) -> Path:
    """`rows` rows under root/data/curated, their images under root/data/images; kept when already written
    with the same size and seed. Returns root."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lingshu.data.schema import ARROW_SCHEMA

    marker = root / "corpus.json"
    spec = {"rows": rows, "seed": seed, "pool": pool, "shard_rows": SHARD_ROWS, "row_group_rows": ROW_GROUP_ROWS}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return root
    shutil.rmtree(root / "data", ignore_errors=True)
    (root / "data/images").mkdir(parents=True)
    images = sorted(p.name for p in image_source.iterdir() if p.suffix in (".png", ".jpg"))[:pool]
    for key in images:
        shutil.copy(image_source / key, root / "data/images" / key)
    rng = random.Random(seed)
    sentences = _sentences(rng)
    for group, task, share in GROUPS:
        n = round(rows * share)
        for shard, start in enumerate(range(0, n, SHARD_ROWS)):
            table = [_row(i, group, task, rng, sentences, images) for i in range(start, min(n, start + SHARD_ROWS))]
            path = root / f"data/curated/{group}/part-{shard:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(table, schema=ARROW_SCHEMA), path, row_group_size=ROW_GROUP_ROWS)
    marker.write_text(json.dumps(spec))
    return root
