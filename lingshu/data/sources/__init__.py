"""Source loaders: one module per native format, all yielding `Sample`s (or `Rejected` records).

A loader never raises for a bad record: it yields a `Rejected` with the reason, so that every input
record ends up either kept or rejected. A file that cannot be parsed at all becomes one rejected record
naming the file. `LOADERS` maps the `format:` key of a source in params.yaml to its loader.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import Rejected, Sample

Loader = Callable[[SourceConfig, Path], Iterator[Sample | Rejected]]
Check = Callable[[SourceConfig, Path], None]  # raises ValueError when a file an option names is unusable
LOADERS: dict[str, Loader] = {}
OPTIONS: dict[str, frozenset[str]] = {}  # format -> the `options:` keys its loader reads
CHECKS: dict[str, Check] = {}  # format -> what is checked before any record is read

# Modules that register loaders; imported lazily so `import lingshu.data.sources` stays cheap.
_MODULES = ("vqa_rad", "pubmedqa", "roco", "iu_xray", "dicom", "mcq_jsonl", "image_folder", "hf_dataset", "generated")


def register(name: str, options: tuple[str, ...] = (), check: Check | None = None) -> Callable[[Loader], Loader]:
    """Register a loader for `format: name`, with the `options:` keys it reads (any other key is an error) and
    an optional check of the files its options name (a broken one fails the run before any work, named)."""
    def wrap(fn: Loader) -> Loader:
        LOADERS[name], OPTIONS[name] = fn, frozenset(options)
        if check is not None:
            CHECKS[name] = check
        return fn

    return wrap


def get_loader(name: str) -> Loader:
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")
    if name not in LOADERS:
        raise KeyError(f"unknown source format {name!r}; known formats: {', '.join(sorted(LOADERS))}")
    return LOADERS[name]


def check_options(src: SourceConfig) -> None:
    """A misspelt option (`image_dri`) would silently fall back to a default: name it and the known ones."""
    get_loader(src.format)
    unknown = sorted(set(src.options) - OPTIONS[src.format])
    if unknown:
        known = ", ".join(sorted(OPTIONS[src.format])) or "none"
        raise ValueError(f"source {src.name!r} (format {src.format}): unknown option(s) {unknown}; known: {known}")


def check_source(src: SourceConfig, repo: Path) -> None:
    """A missing path, an unknown option or an unusable file an option names is a clear error naming the source."""
    check_options(src)
    if src.format != "hf_dataset" and not (repo / src.path).exists():
        raise FileNotFoundError(f"source {src.name!r}: path {src.path!r} does not exist (relative to {repo})")
    if src.format in CHECKS:
        try:
            CHECKS[src.format](src, repo)
        except ValueError as exc:
            raise ValueError(f"source {src.name!r} (format {src.format}): {exc}") from None


def load_source(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    """Records of one configured source (checked first: `check_source`)."""
    loader = get_loader(src.format)
    check_source(src, repo)
    yield from loader(src, repo)
