"""The curated and synthetic tables as memory-mapped Arrow, read through Hugging Face `datasets`.

A data group's rows are in one Parquet file per table folder (`<dir>/<group>.parquet`) or in shards
(`<dir>/<group>/*.parquet`), the curated folder first, then the synthetic one. `datasets` converts each
file once into an Arrow file in the cache folder (its key: the file's path and modification time) and
memory-maps it, so a table of millions of rows costs page cache, not Python objects, and every process
of a run (and every later run) maps the same file. Rows are chosen with Arrow compute over whole columns;
only the rows a caller actually reads become dicts. Training, RL selection and the held-out sets all read
their tables here.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingshu.data.schema import GROUPS, table_files

ROWS_PER_READ = 1024  # rows turned into dicts at a time when iterating
# Rows per Arrow record batch of the cached copies. datasets' default (1000) puts every column's few bytes
# of a batch on their own pages, so scanning one column maps ~60 KB per batch into memory: 150 MB per
# million rows where the column itself is 10 MB. Bounded because one batch's text must stay under 2 GB.
# Passed as the reader's batch_size too, which is part of datasets' cache key (writer_batch_size is not).
ROWS_PER_BATCH = 50_000


@dataclass(frozen=True)
class Table:
    """One Parquet file of a group, memory-mapped."""

    path: Path
    cache_dir: Path

    @cached_property
    def dataset(self):
        import datasets
        from datasets.table import InMemoryTable

        if not sys.stderr.isatty():
            datasets.disable_progress_bars()
        if pq.ParquetFile(self.path).metadata.num_rows == 0:  # datasets cannot build an empty split
            return datasets.Dataset(InMemoryTable(pq.read_schema(self.path).empty_table()))
        return datasets.Dataset.from_parquet(str(self.path), cache_dir=str(self.cache_dir), batch_size=ROWS_PER_BATCH,
                                             writer_batch_size=ROWS_PER_BATCH)

    @cached_property
    def fingerprint(self) -> str:
        """Names the file's content by its absolute path, size and modification time (datasets keys its Arrow copy
        by path and modification time)."""
        stat = self.path.stat()
        return hashlib.sha256(json.dumps([str(self.path.resolve()), stat.st_size, stat.st_mtime_ns]).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.dataset)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.dataset.data.column(name)


def group_tables(data_dirs: list[Path], group: str, cache_dir: Path) -> list[Table]:
    """The tables holding `group`, in reading order (folders as given, shards by name)."""
    if group not in GROUPS:
        raise ValueError(f"unknown data group {group!r}; known: {', '.join(GROUPS)}")
    paths = [path for folder in data_dirs for path in table_files(folder).get(group, [])]
    if not paths:
        raise FileNotFoundError(f"data group {group!r} has no table in {[str(d) for d in data_dirs]} "
                                "(did the curate / synthesize stage produce it?)")
    return [Table(path, Path(cache_dir)) for path in paths]


def _true(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def image_counts(table: Table) -> np.ndarray:
    """Images per row."""
    return np.asarray(pc.fill_null(pc.list_value_length(table.column("images")), 0).to_numpy(zero_copy_only=False))


def where(table: Table, split: str | None = None, tasks: list[str] | tuple = (), require_images: bool = False,
          source: str | None = None, ids: set[str] | None = None) -> np.ndarray:
    """Positions of the rows of `split` (any when None), of one of `tasks` (any when empty), with an image when
    `require_images`, from `source` (any when None), with one of `ids` (any when None), in table order."""
    keep = np.ones(len(table), dtype=bool)
    if split is not None:
        keep &= _true(pc.equal(table.column("split"), split))
    if tasks:
        keep &= _true(pc.is_in(table.column("task"), value_set=pa.array(list(tasks), pa.string())))
    if require_images:
        keep &= image_counts(table) > 0
    if source is not None:
        keep &= _true(pc.equal(table.column("source"), source))
    if ids is not None:
        keep &= _true(pc.is_in(table.column("id"), value_set=pa.array(sorted(ids), pa.string())))
    return np.flatnonzero(keep)


def rows_at(table: Table, positions: np.ndarray) -> Iterator[dict]:
    """The rows at `positions` as dicts, `meta` parsed, read a block at a time."""
    arrow = table.dataset.with_format("arrow")
    for start in range(0, len(positions), ROWS_PER_READ):
        for row in arrow[np.asarray(positions[start:start + ROWS_PER_READ]).tolist()].to_pylist():
            meta = row.get("meta")
            row["meta"] = json.loads(meta) if isinstance(meta, str) else (meta or {})
            yield row


def group_rows(data_dirs: list[Path], group: str, cache_dir: Path, **conditions) -> Iterator[dict]:
    """The rows of one group that meet `conditions` (see `where`), in reading order, meta parsed."""
    for table in group_tables(data_dirs, group, cache_dir):
        yield from rows_at(table, where(table, **conditions))
