"""The tables the expectation suites validate, recomputed independently from the curate outputs.

Nothing here trusts curate's own bookkeeping: image refs are resolved against the store, benchmark
overlap is recomputed (exact normalised text and exact pHash against every benchmark's test split), and
conservation is recounted from the tables themselves against the input counts in metrics/curate.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lingshu.config import CurateConfig
from lingshu.data.screen import count_tokens
from lingshu.data.dedup import normalise_text
from lingshu.data.images import inspect_image
from lingshu.data.store import ImageStore
from lingshu.data.schema import BadRecord, IMAGE_TOKEN, read_table, table_files
from lingshu.data.decontam import select_benchmarks, benchmark_items


def benchmark_fingerprints(cfg: CurateConfig, repo: Path) -> tuple[dict[str, str], dict[int, str]]:
    """Normalised text -> benchmark and pHash -> benchmark of every test item, read through the same adapter
    as curation (lingshu.data.decontam.benchmark_item), matched here on exact text and exact pHash only."""
    texts: dict[str, str] = {}
    phashes: dict[int, str] = {}
    for item in benchmark_items(select_benchmarks(cfg.benchmarks), repo):
        if normalise_text(item.text):  # a text of no [a-z0-9] words matches nothing exactly, as in curation
            texts.setdefault(normalise_text(item.text), item.benchmark)
        for image in item.images:
            try:
                info, _ = inspect_image(image.read(), 1, cfg.max_image_pixels, cfg.jpeg_draft)
                phashes.setdefault(info.phash, item.benchmark)
            except BadRecord:
                continue
    return texts, phashes


def curated_table(cfg: CurateConfig, repo: Path) -> pd.DataFrame:
    """All curated tables as one frame, with the derived columns the `curated` suite checks."""
    frames = [read_table(paths).to_pandas().assign(table=name)
              for name, paths in table_files(repo / cfg.output_dir).items()]
    if not frames:
        return pd.DataFrame(columns=["id", "table"])
    df = pd.concat(frames, ignore_index=True)
    store = ImageStore(repo / cfg.image_store)
    bench_texts, bench_phashes = benchmark_fingerprints(cfg, repo)
    phash_cache: dict[str, int | None] = {}

    def phash_of(key: str) -> int | None:
        if key not in phash_cache:
            try:
                phash_cache[key] = inspect_image(store.read(key), 1, cfg.max_image_pixels, cfg.jpeg_draft)[0].phash
            except (KeyError, BadRecord):
                phash_cache[key] = None
        return phash_cache[key]

    rows = []
    for row in df.itertuples(index=False):
        meta = json.loads(row.meta) if row.meta else {}
        turns = list(row.conversations)
        answer = turns[-1]["content"] if turns else ""
        question = str(meta.get("question") or "\n".join(t["content"].replace(IMAGE_TOKEN, "").strip()
                                                         for t in turns if t["role"] == "user"))
        overlap_text = answer if row.task in ("caption", "report") else question
        overlap = None
        if row.split == "train" and not meta.get("benchmark_overlap"):
            overlap = bench_texts.get(normalise_text(overlap_text))
            overlap = overlap or next((bench_phashes[h] for h in map(phash_of, row.images) if h in bench_phashes), None)
        rows.append({
            "n_images": len(row.images),
            "image_tokens": sum(t["content"].count(IMAGE_TOKEN) for t in turns),
            "images_resolve": all(key in store for key in row.images),
            "answer_chars": len(answer.strip()),
            "caption_tokens": count_tokens(answer) if row.task == "caption" else None,
            "unflagged_benchmark_overlap": overlap or "",
            "provenance_file": row.provenance["file"] if row.provenance else None,
        })
    return pd.concat([df.drop(columns=["conversations", "meta", "provenance"]), pd.DataFrame(rows)], axis=1)


def rejected_table(cfg: CurateConfig, repo: Path) -> pd.DataFrame:
    df = read_table(sorted((repo / cfg.rejected_dir).glob("*.parquet"))).to_pandas()
    df["provenance_file"] = [p["file"] if p else None for p in df.pop("provenance")]
    return df


def recount(reported: dict[str, dict], kept: pd.DataFrame, dropped: pd.DataFrame, by: str,
            reported_key: str) -> pd.DataFrame:
    """Per value of `by`: the stage's reported count (-1 if unreported) against kept + dropped rows counted
    in the tables; `counted_kept` is the kept part alone."""
    kept_counts = kept[by].value_counts() if len(kept) else pd.Series(dtype=int)
    dropped_counts = dropped[by].value_counts() if len(dropped) else pd.Series(dtype=int)
    names = sorted(set(reported) | set(kept_counts.index) | set(dropped_counts.index))
    return pd.DataFrame({
        by: names,
        reported_key: [int(reported.get(n, {}).get(reported_key, -1)) for n in names],
        "accounted": [int(kept_counts.get(n, 0)) + int(dropped_counts.get(n, 0)) for n in names],
        "counted_kept": [int(kept_counts.get(n, 0)) for n in names],
    })


def conservation_table(cfg: CurateConfig, repo: Path, curated: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Per source: inputs (from curate's metrics) against kept + rejected recounted from the tables."""
    per_source = json.loads((repo / cfg.metrics_file).read_text())["per_source"]
    return recount(per_source, curated, rejected, "source", "inputs").drop(columns=["counted_kept"])
