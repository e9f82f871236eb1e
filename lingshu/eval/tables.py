"""Rows of a benchmark's data in whichever form it was downloaded: JSON, JSON lines, CSV, parquet or arrow.

Benchmarks reach users as JSON lists, JSON lines, CSV tables, pandas' column-oriented JSON (Medbullets'
release), or as a Hugging Face dataset: parquet or arrow shards in the hub's folder layout
(`data/test-00000-of-00001.parquet`, `<config>/test/0000.parquet`) or a folder written by
`datasets.save_to_disk`. `open_table` reads any of them, offline, as rows of plain values; each row
carries `where` (file and line, or file and row) so that a loader's errors name the record they are about.

Image cells of parquet and arrow files (the hub's `Image` feature, a {bytes, path} struct, or raw bytes)
are not read with the rows: each becomes a `Cell` that reads its bytes only when asked. A loader can so
list every item of a split, ids included, and `--limit` reads the images of the items it keeps only.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

TEXT_KINDS = ("json", "jsonl", "csv")
HF_KINDS = ("parquet", "arrow")
SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet", ".arrow": "arrow"}
_BATCH = 256


@dataclass(frozen=True)
class Row:
    where: str  # "file:line" or "file row N": what an error about this record names
    index: int  # 0-based position in the split, over all its shards
    record: dict


class _ParquetShard:
    def __init__(self, path: Path):
        self.path, self._file, self._groups = path, None, {}

    @property
    def file(self):
        if self._file is None:
            import pyarrow.parquet as pq

            self._file = pq.ParquetFile(self.path)
        return self._file

    def schema(self):
        return self.file.schema_arrow

    def records(self, columns: list[str]) -> Iterator[dict]:
        for batch in self.file.iter_batches(batch_size=_BATCH, columns=columns):
            yield from batch.to_pylist()

    def cell(self, row: int, column: str):
        """One cell, reading only its row group's column chunk (kept per column for the next call: chosen items
        are fetched in file order)."""
        meta, start = self.file.metadata, 0
        for group in range(meta.num_row_groups):
            if row < start + meta.row_group(group).num_rows:
                break
            start += meta.row_group(group).num_rows
        if self._groups.get(column, (None,))[0] != group:
            self._groups[column] = (group, self.file.read_row_group(group, columns=[column]).column(0))
        return self._groups[column][1][row - start].as_py()


class _ArrowShard:
    """An arrow file as `datasets` writes it (IPC stream) or as the IPC file format, memory-mapped: columns
    that are not touched are not read."""

    def __init__(self, path: Path):
        self.path, self._table = path, None

    @property
    def table(self):
        if self._table is None:
            import pyarrow as pa

            source = pa.memory_map(str(self.path))
            try:
                self._table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                self._table = pa.ipc.open_file(source).read_all()
        return self._table

    def schema(self):
        return self.table.schema

    def records(self, columns: list[str]) -> Iterator[dict]:
        for batch in self.table.select(columns).to_batches(max_chunksize=_BATCH):
            yield from batch.to_pylist()

    def cell(self, row: int, column: str):
        return self.table.column(column)[row].as_py()


class Cell:
    """An image cell of a parquet or arrow shard, read only when `read` is called."""

    def __init__(self, shard: _ParquetShard | _ArrowShard, row: int, column: str):
        self.shard, self.row, self.column = shard, row, column

    def read(self):
        return self.shard.cell(self.row, self.column)


def _is_image(kind) -> bool:
    """An `Image` feature ({bytes, path} struct), raw bytes, or a list of them (`Sequence(Image)`)."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return kind.get_field_index("bytes") >= 0
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _is_image(kind.value_type)
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


class Table:
    """One split of a benchmark: a file, or the shards of a Hugging Face dataset folder. `kind` is its format
    (json, jsonl, csv, parquet, arrow); nothing is read until `columns` or `rows` is called."""

    def __init__(self, path: Path, kind: str, files: list[Path]):
        self.path, self.kind, self.files = path, kind, files
        self._shard_list: list | None = None

    def columns(self) -> list[str]:
        """The field names of the first record (a CSV's header; a shard's schema)."""
        if self.kind in HF_KINDS:
            return list(self._shards()[0].schema().names)
        if self.kind == "csv":
            with open(self.path, encoding="utf-8-sig", newline="") as handle:
                return [name for name in next(csv.reader(handle), []) if name]
        first = next(self.rows(), None)
        return list(first.record) if first else []

    def rows(self) -> Iterator[Row]:
        return {"json": self._json, "jsonl": self._jsonl, "csv": self._csv}.get(self.kind, self._columnar)()

    def _shards(self) -> list:
        if self._shard_list is None:
            shard = _ParquetShard if self.kind == "parquet" else _ArrowShard
            self._shard_list = [shard(file) for file in self.files]
        return self._shard_list

    def _columnar(self) -> Iterator[Row]:
        index = 0
        for shard in self._shards():
            schema = shard.schema()
            images = [f.name for f in schema if _is_image(f.type)]
            for row, record in enumerate(shard.records([n for n in schema.names if n not in images])):
                yield Row(f"{shard.path} row {row}", index, record | {c: Cell(shard, row, c) for c in images})
                index += 1

    def _json(self) -> Iterator[Row]:
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()) \
                and all(str(k).isdigit() for column in data.values() for k in column):
            # pandas' DataFrame.to_json() default: {column: {row number: value}}
            keys = sorted({k for column in data.values() for k in column}, key=int)
            data = [{name: column.get(k) for name, column in data.items()} for k in keys]
        if not isinstance(data, list):
            raise ValueError(f"{self.path}: expected a JSON list of records or a pandas column table "
                             f"({{column: {{row: value}}}}), got a {type(data).__name__}")
        for index, record in enumerate(data):
            if not isinstance(record, dict):
                raise ValueError(f"{self.path} row {index}: expected a record ({{field: value}}), got {type(record).__name__}")
            yield Row(f"{self.path} row {index}", index, record)

    def _jsonl(self) -> Iterator[Row]:
        with open(self.path, encoding="utf-8") as lines:
            index = 0
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{self.path}:{number}: not a JSON record ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{self.path}:{number}: expected a record ({{field: value}}), got {type(record).__name__}")
                yield Row(f"{self.path}:{number}", index, record)
                index += 1

    def _csv(self) -> Iterator[Row]:
        with open(self.path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            for index, record in enumerate(reader):  # cells past the header (trailing commas) are dropped
                yield Row(f"{self.path}:{reader.line_num}", index, {k: v for k, v in record.items() if k is not None})


def _state_files(folder: Path) -> list[Path]:
    """The arrow files a `save_to_disk` folder lists in its state.json (in order)."""
    state = json.loads((folder / "state.json").read_text())
    files = [folder / entry["filename"] for entry in state.get("_data_files", [])]
    return files or sorted(folder.glob("data-*.arrow"))


def _hf_folder(folder: Path, split: str) -> tuple[str, list[Path]]:
    """(kind, files) of a split in a Hugging Face dataset folder."""
    if (folder / "dataset_dict.json").is_file():  # save_to_disk of a DatasetDict: one folder per split
        if not (folder / split / "state.json").is_file():
            splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
            raise ValueError(f"{folder}: a save_to_disk dataset without a {split!r} split (it has {splits})")
        return "arrow", _state_files(folder / split)
    if (folder / "state.json").is_file():  # save_to_disk of one Dataset
        return "arrow", _state_files(folder)
    patterns = [f"{split}-*", f"data/{split}-*", f"{split}/*", f"*/{split}/*"]
    for ext in HF_KINDS:
        for pattern in patterns:
            files = sorted(folder.glob(f"{pattern}.{ext}"))
            if files:
                return ext, files
    raise ValueError(f"{folder}: no {split!r} split here: looked for a save_to_disk folder (dataset_dict.json or "
                     f"state.json) and for parquet or arrow shards named {', '.join(p + '.parquet' for p in patterns)}")


def _json_lines(path: Path) -> bool:
    """Whether a .json file holds one record per line: its first line is a whole JSON object and more follows."""
    with open(path, encoding="utf-8") as handle:
        first, rest = handle.readline(), handle.read(4096)
    try:
        return isinstance(json.loads(first), dict) and bool(rest.strip())
    except json.JSONDecodeError:
        return False


def open_table(path: Path, split: str) -> Table:
    """The `split` of the data at `path`: a .json/.jsonl/.csv/.parquet/.arrow file (the whole file), or a Hugging
    Face dataset folder (hub shards or save_to_disk). Reads nothing yet."""
    path = Path(path)
    if path.is_dir():
        kind, files = _hf_folder(path, split)
        return Table(path, kind, files)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind == "json" and _json_lines(path):
        kind = "jsonl"  # JSON lines named .json, as MedMCQA's dev.json is
    if kind is None:
        raise ValueError(f"{path}: a {path.suffix or 'suffixless'} file; tables are read from {', '.join(SUFFIXES)} "
                         f"files or from a Hugging Face dataset folder (parquet/arrow shards, or save_to_disk)")
    return Table(path, kind, [path])
