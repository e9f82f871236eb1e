"""Which curated samples a stage trains on: data groups with weights, task and image filters.

A weight is a multiplier on a group's size per epoch: 1 takes every sample once, 2 twice, 0.5 a
seeded half, 0 removes the group. That makes the paper's "remove one slice" ablations a one-key
change (`dvc exp run -S train.instruct.groups.medical_text=0`).

The groups' tables stay memory-mapped (lingshu.train.tables); a mixture is those tables concatenated
plus one array of row positions, the epoch's samples in order. The order is drawn exactly as it was
when the rows were Python lists: one `random.Random(seed)`, groups in sorted order, each group's rows
repeated `int(weight)` times plus `rng.sample` of the fraction, then one `rng.shuffle` of the whole. The
RNG sees only sizes, so sampling positions (`range(n)`) and shuffling a memoryview of the position array
draw the same numbers, and the same rows, as before.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lingshu.data.schema import TASKS
from lingshu.train.tables import Table, group_tables, where


@dataclass
class Mixture:
    """`order` holds positions in the concatenation of `tables` (a group's tables, groups in sorted order)."""

    tables: list[Table]
    order: np.ndarray

    def dataset(self):
        """Every row of the tables as one memory-mapped `datasets.Dataset` (positions as in `order`)."""
        import datasets

        return datasets.concatenate_datasets([t.dataset for t in self.tables])


def chosen_groups(groups: dict[str, float]) -> list[str]:
    """The groups a mixture reads, in the order it reads them; a negative weight is an error."""
    for group, weight in groups.items():
        if weight < 0:
            raise ValueError(f"group {group!r} has negative weight {weight}")
    return [group for group, weight in sorted(groups.items()) if weight != 0]


def select(data_dirs: list[Path], groups: dict[str, float], tasks: list[str], require_images: bool, split: str,
           seed: int, cache_dir: Path) -> Mixture:
    """The stage's samples for one epoch, in a seeded shuffled order."""
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    rng = random.Random(seed)
    tables: list[Table] = []
    chosen: list[np.ndarray] = []
    offset = 0
    for group in chosen_groups(groups):
        weight = groups[group]
        rows = []
        for table in group_tables(data_dirs, group, cache_dir):
            rows.append(where(table, split=split, tasks=tasks, require_images=require_images) + offset)
            tables.append(table)
            offset += len(table)
        rows = np.concatenate(rows)
        whole, fraction = int(weight), weight - int(weight)
        picked = rng.sample(range(len(rows)), round(fraction * len(rows)))
        chosen += [np.tile(rows, whole), rows[np.asarray(picked, dtype=np.int64)]]
    order = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)
    rng.shuffle(memoryview(order))
    return Mixture(tables, order)
