"""Helpers shared by the benchmark loaders: clear errors for absent folders and images, embedded-image caching.

Benchmark data is downloaded by the user under data/benchmarks/; when a folder or image is absent the
loaders say which path they looked for (and which YAML key names it) instead of failing deep inside a
reader. Images are left to each item's `fetch` (checked or written to the cache only for the items a run
keeps). Records that cannot be scored (hidden answers, empty reports, ...) are skipped and counted in one
warning each.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable

from lingshu.eval.benchmark import Benchmark
from lingshu.eval.tables import Cell

log = logging.getLogger("lingshu.eval.loaders")

_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
          (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def not_found(bench: Benchmark, what: str, path: Path, key: str = "path") -> FileNotFoundError:
    return FileNotFoundError(f"{bench.name}: {what} {path} not found (from `{key}:` in {bench.source_file or 'its YAML'}; "
                             f"download it there, or change `{key}:`)")


def data_folder(path: Path) -> Path:
    """The folder a benchmark's image folders are relative to: `path` itself, or the folder of its file."""
    return path if path.is_dir() else path.parent


def subfolders_problem(path: Path, names: list[str], key: str) -> str | None:
    """For a layout of one folder per name (subjects): what is amiss at `path`, or None."""
    if not path.is_dir():
        return "it is a file, this layout is a folder with one folder per subject"
    absent = [name for name in names if not (path / name).is_dir()]
    return f"no subject folder {', '.join(absent)} ({key})" if absent else None


def folder(bench: Benchmark, path: Path, what: str, key: str = "path") -> Path:
    if not path.is_dir():
        raise not_found(bench, what, path, key)
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


def image_files(bench: Benchmark, paths: list[Path]) -> Callable[[], list[Path]]:
    """An item's `fetch` for image files: checked when the item is chosen, not while listing the split."""
    return lambda: [image(bench, path) for path in paths]


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
    """A Hugging Face `Image` cell's value ({bytes, path}, or raw bytes) written to the cache; None for an empty cell."""
    if value is None:
        return None
    data = value.get("bytes") if isinstance(value, dict) else value
    if not data:
        return None
    return cached_image(bytes(data), cache)


def embedded_images(cells: list, cache: Path, where: str, required: bool = True) -> Callable[[], list[Path]]:
    """An item's `fetch` for images embedded in its row: written to the cache when the item is chosen. With
    `required`, an item whose cells are all empty is an error naming its row."""

    def fetch() -> list[Path]:
        values = [cell.read() if isinstance(cell, Cell) else cell for cell in cells]
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        found = [p for p in (embedded_image(v, cache) for v in flat) if p is not None]
        if required and not found:
            names = [cell.column for cell in cells if isinstance(cell, Cell)]
            raise ValueError(f"{where}: no image bytes in field {', '.join(names) or 'image'}")
        return found
    return fetch


def report_skipped(bench: Benchmark, counts: dict[str, int], total: int) -> None:
    for reason, n in counts.items():
        if n:
            log.warning("%s: skipped %d of %d %s records: %s", bench.name, n, total, bench.split, reason)
