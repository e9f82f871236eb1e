"""The tables the synthetic-data suites validate, recomputed from the synthesize outputs.

Like the curated checks, nothing here trusts the generators' own bookkeeping: image refs are resolved
against both stores, every source id must name a curated train sample (or a segmentation slice),
images are compared by pHash with every benchmark's test images (text-only samples by their question
text), and each generator's attempts are recounted from the tables against metrics/synthesize.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from lingshu.checks.derive import benchmark_fingerprints, recount
from lingshu.config import CurateConfig
from lingshu.data.screen import count_tokens
from lingshu.data.dedup import normalise_text
from lingshu.data.images import inspect_image
from lingshu.data.store import ImageStores
from lingshu.data.schema import IMAGE_TOKEN, BadRecord, table_files
from lingshu.synth.config import SynthesizeConfig

SYNTHETIC_TABLES = ("medical_caption", "synthetic_multimodal", "medical_cot")


def _curated_train_ids(curate: CurateConfig, repo: Path) -> set[str]:
    ids: set[str] = set()
    for path in (p for paths in table_files(repo / curate.output_dir).values() for p in paths):
        table = pq.read_table(path, columns=["id", "split"]).to_pylist()
        ids |= {r["id"] for r in table if r["split"] == "train"}
    return ids


def synthetic_table(curate: CurateConfig, synth: SynthesizeConfig, repo: Path) -> pd.DataFrame:
    out = repo / synth.output_dir
    frames = [pq.read_table(out / f"{t}.parquet").to_pandas().assign(table=t) for t in SYNTHETIC_TABLES
              if (out / f"{t}.parquet").exists()]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return pd.DataFrame(columns=["id", "table"])
    stores = ImageStores([out / "images", repo / synth.image_store])
    train_ids = _curated_train_ids(curate, repo)
    bench_texts, bench_phashes = benchmark_fingerprints(curate, repo)

    def benchmark_image(key: str) -> str:
        try:
            phash = inspect_image(stores.read(key), 1, curate.max_image_pixels, curate.jpeg_draft)[0].phash
        except (KeyError, BadRecord):
            return ""
        return bench_phashes.get(phash, "") if phash is not None else ""

    rows = []
    for row in df.itertuples(index=False):
        meta = json.loads(row.meta) if row.meta else {}
        turns = list(row.conversations)
        answer = turns[-1]["content"] if turns else ""
        source_ids = list(meta.get("source_ids") or [])
        question = str(meta.get("question") or "")
        overlap = "" if row.images.size else bench_texts.get(normalise_text(question), "")
        overlap = overlap or next((b for b in map(benchmark_image, row.images) if b), "")
        rows.append({
            "generator": meta.get("generator", ""),
            "n_images": len(row.images),
            "image_tokens": sum(t["content"].count(IMAGE_TOKEN) for t in turns),
            "images_resolve": all(k in stores for k in row.images),
            "answer_chars": len(answer.strip()),
            "caption_tokens": count_tokens(answer) if row.task == "caption" else None,
            "n_source_ids": len(source_ids),
            "sources_are_train": all(s in train_ids or "#" in s for s in source_ids),
            "benchmark_overlap": overlap,
            "provenance_file": row.provenance["file"] if row.provenance else None,
        })
    keep = ["id", "source", "group", "task", "modality", "licence", "split", "table"]
    return pd.concat([df[keep], pd.DataFrame(rows)], axis=1)


def synthetic_rejected_table(synth: SynthesizeConfig, repo: Path) -> pd.DataFrame:
    return pq.read_table(repo / synth.output_dir / "rejected.parquet").to_pandas().drop(columns=["source_ids"])


def synthetic_conservation_table(synth: SynthesizeConfig, repo: Path, table: pd.DataFrame,
                                 rejected: pd.DataFrame) -> pd.DataFrame:
    """Per generator: attempts and accepted from the stage's metrics, against recounts of both tables."""
    generators = json.loads((repo / synth.metrics_file).read_text())["generators"]
    counts = recount(generators, table, rejected, "generator", "attempts")
    counts["reported_accepted"] = [int(generators.get(n, {}).get("accepted", -1)) for n in counts["generator"]]
    return counts
