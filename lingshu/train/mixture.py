"""Which curated samples a stage trains on: data groups with weights, task and image filters.

A weight is a multiplier on a group's size per epoch: 1 takes every sample once, 2 twice, 0.5 a
seeded half, 0 removes the group. That makes the paper's "remove one slice" ablations a one-key
change (`dvc exp run -S train.instruct.groups.medical_text=0`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from lingshu.data.schema import GROUPS, TASKS, read_table, table_files


def read_group(data_dirs: list[Path], group: str) -> list[dict]:
    """All rows of one group, from its table in each folder that has one (curated, synthetic), meta parsed."""
    if group not in GROUPS:
        raise ValueError(f"unknown data group {group!r}; known: {', '.join(GROUPS)}")
    tables = [paths for d in data_dirs if (paths := table_files(d).get(group))]  # shards, or one file
    if not tables:
        raise FileNotFoundError(f"data group {group!r} has no table in {[str(d) for d in data_dirs]} "
                                "(did the curate / synthesize stage produce it?)")
    rows = [row for paths in tables for row in read_table(paths).to_pylist()]
    for row in rows:
        row["meta"] = json.loads(row["meta"]) if isinstance(row.get("meta"), str) else (row.get("meta") or {})
    return rows


def select(data_dirs: list[Path], groups: dict[str, float], tasks: list[str], require_images: bool, split: str,
           seed: int) -> list[dict]:
    """The stage's samples for one epoch, in a seeded shuffled order."""
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    rng = random.Random(seed)
    chosen: list[dict] = []
    for group, weight in sorted(groups.items()):
        if weight < 0:
            raise ValueError(f"group {group!r} has negative weight {weight}")
        if weight == 0:
            continue
        rows = [r for r in read_group(data_dirs, group) if r["split"] == split
                and (not tasks or r["task"] in tasks) and (not require_images or len(r["images"]) > 0)]
        whole, fraction = int(weight), weight - int(weight)
        chosen += rows * whole + rng.sample(rows, round(fraction * len(rows)))
    rng.shuffle(chosen)
    return chosen
