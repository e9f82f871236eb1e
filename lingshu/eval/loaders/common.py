"""Helpers shared by the benchmark loaders: clear errors for absent data, tables, embedded-image caching.

Benchmark data is downloaded by the user under data/benchmarks/; when it is absent the loaders say which
path they looked for (and which YAML names it) instead of failing deep inside a reader. Records that
cannot be scored (hidden answers, empty reports, ...) are skipped and counted in one warning each.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

from lingshu.eval.benchmark import Benchmark

log = logging.getLogger("lingshu.eval.loaders")

_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
          (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def _missing(bench: Benchmark, what: str, path: Path, key: str = "path") -> FileNotFoundError:
    return FileNotFoundError(f"{bench.name}: {what} {path} not found (from `{key}:` in {bench.source_file or 'its YAML'}; "
                             f"download it there, or change `{key}:`)")


def data_path(bench: Benchmark, root: Path, kind: str = "file") -> Path:
    """root/bench.path, which must exist as a "file", a "folder", or either ("file or folder")."""
    path = Path(root) / bench.path
    exists = {"file": path.is_file, "folder": path.is_dir}.get(kind, path.exists)
    if not exists():
        raise _missing(bench, "data " + kind, path)
    return path


def folder(bench: Benchmark, path: Path, what: str, key: str = "path") -> Path:
    if not path.is_dir():
        raise _missing(bench, what, path, key)
    return path


def relative(base: Path, name: str) -> Path:
    """base/name with ".." folded away, so that error messages and prompt hashes name a plain path."""
    return Path(os.path.normpath(base / name))


def image(bench: Benchmark, path: Path) -> Path:
    """An image path that must exist; names the file and whether its folder exists at all."""
    if not path.is_file():
        where = "" if path.parent.is_dir() else f"; the image folder {path.parent} does not exist"
        raise FileNotFoundError(f"{bench.name}: image {path} not found{where}")
    return path


def parquet_files(bench: Benchmark, base: Path, split: str) -> list[Path]:
    """The split's shards as the Hugging Face hub lays them out: `[data/]<split>-NNNNN-of-NNNNN*.parquet`."""
    if base.is_file():
        return [base]
    files = sorted(base.glob(f"{split}-*.parquet")) + sorted(base.glob(f"data/{split}-*.parquet"))
    if not files:
        raise _missing(bench, f"{split} parquet shard ({split}-*.parquet) under", base)
    return files


def parquet_rows(files: Iterable[Path], columns: list[str] | None = None) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for file in files:
        reader = pq.ParquetFile(file)
        names = [c for c in columns if c in reader.schema_arrow.names] if columns else None
        for batch in reader.iter_batches(batch_size=64, columns=names):
            yield from batch.to_pylist()


def read_records(path: Path) -> list[dict]:
    """A table as dicts: JSON (a list), JSON lines, CSV (header row) or parquet, chosen by suffix."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        records = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(records, list):
            raise ValueError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
        return records
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return [{k: v for k, v in row.items() if k is not None} for row in csv.DictReader(handle)]
    if suffix == ".parquet":
        return list(parquet_rows([path]))
    raise ValueError(f"{path}: unsupported table format {suffix!r} (json, jsonl, csv or parquet)")


def image_cache(root: Path, bench: Benchmark) -> Path:
    """Where images embedded in a benchmark's files are written once: under the repo's .cache/, never
    inside the benchmark's data folder (a DVC dependency that must not change when it is read)."""
    return root / ".cache" / "eval_images" / bench.name


def cached_image(data: bytes, cache: Path) -> Path:
    """Write embedded image bytes once under `cache`, named by content hash; return the file."""
    ext = next((e for magic, e in _MAGIC if data.startswith(magic)), None)
    if ext is None:
        ext = ".webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else ".img"
    target = cache / f"{hashlib.sha256(data).hexdigest()[:32]}{ext}"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def embedded_image(value, cache: Path) -> Path | None:
    """A Hugging Face `Image` cell ({bytes, path}) written to the cache; None for an empty cell."""
    if value is None:
        return None
    data = value.get("bytes") if isinstance(value, dict) else value
    if not data:
        return None
    return cached_image(bytes(data), cache)


def report_skipped(bench: Benchmark, counts: dict[str, int], total: int) -> None:
    for reason, n in counts.items():
        if n:
            log.warning("%s: skipped %d of %d %s records: %s", bench.name, n, total, bench.split, reason)
