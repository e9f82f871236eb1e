"""Atomic file writes (a stage killed mid-write never leaves a half-written output behind), folders replaced
as a whole, and the one reader of the YAML files users declare things in (benchmarks, ablations, profiles)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_write_csv(path: str | Path, rows: list[dict]) -> None:
    """Rows of dicts as CSV, the columns those of the last row (the most complete one in a growing log)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[-1]) if rows else [], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


@contextmanager
def replaced_folder(target: str | Path) -> Iterator[Path]:
    """A fresh folder to write an output into; when the block ends it replaces `target` as a whole, so no file
    of an earlier run survives beside the new ones (outside DVC, which would otherwise delete outputs first).
    If the block fails, `target` is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new"))
    fresh.chmod(0o755)  # mkdtemp's 0700 would follow the folder into place
    try:
        yield fresh
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    shutil.rmtree(old, ignore_errors=True)


def write_parquet(path: str | Path, rows: list[dict], schema: pa.Schema) -> None:
    """Write rows as one Parquet table (atomically; an empty list gives an empty table with the schema)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_yaml_mapping(path: Path) -> dict:
    """A declaration file's top-level mapping; ValueError naming the file when it is not valid YAML or no mapping."""
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of keys to values, found {type(raw).__name__}")
    return raw
