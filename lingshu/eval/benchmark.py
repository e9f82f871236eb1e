"""Benchmarks as data: one YAML file each, found by its `name:`, loaded into `EvalItem`s.

Adding a benchmark means adding a YAML file under lingshu/eval/benchmarks/ (or a folder passed with
`--benchmark-dir`), plus a loader only when its source format is new. A loader lists the layouts it reads
(lingshu.eval.layouts); the YAML's `format:` names one, or the files at `path` decide. Generic code never
branches on a benchmark's name: the YAML's `task` picks prompts and extractors, `breakdown` names the
item fields to report accuracy by, `group` puts it in a suite.

Loaders list every item with its id but leave its images to `EvalItem.fetch`, so that a `limit` sample
reads (and, for images embedded in parquet or arrow, decodes) the images of the chosen items only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from lingshu.eval.layouts import Layout, choose
from lingshu.eval.medevalkit_protocol import Settings
from lingshu.io import read_yaml_mapping

BUILTIN_DIR = Path(__file__).parent / "benchmarks"
TASKS = ("mcq", "vqa", "report")
LOADERS: dict[str, list[Layout]] = {}
ALL = "all"  # selects every benchmark


@dataclass
class EvalItem:
    """One question (or study, for reports) with its gold answer and the fields results break down by."""

    id: str
    question: str
    answer: str
    images: list[Path] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    context: str | None = None
    answer_type: str | None = None  # CLOSED / OPEN where the dataset says so
    fields: dict[str, Any] = field(default_factory=dict)
    fetch: Callable[[], list[Path]] | None = field(default=None, repr=False, compare=False)  # images, when asked

    def ready(self) -> "EvalItem":
        """The item with its images on disk: those a loader left to `fetch` are read (and checked) now."""
        return self if self.fetch is None else replace(self, images=self.fetch(), fetch=None)
    # source text as published where the loader reworded it ("question": with its inline choices, "choices":
    # letter -> cell with its letter); `--protocol medevalkit` prompts and judges with it where its YAML says so
    verbatim: dict[str, Any] = field(default_factory=dict)


@dataclass
class Benchmark:
    name: str
    version: int
    group: str
    loader: str
    path: str
    task: str
    description: str = ""
    split: str = "test"
    options: dict = field(default_factory=dict)
    breakdown: list[str] = field(default_factory=list)
    format: str = ""  # one of the loader's layouts; empty: recognised from the files at `path`
    medevalkit: dict = field(default_factory=dict)  # how MedEvalKit asks and judges it (medevalkit_protocol)
    source_file: str = ""

    def data(self, root: Path) -> Path:
        """root/path, which must exist; the error says which YAML key names it."""
        path = Path(root) / self.path
        if not path.exists():
            raise FileNotFoundError(f"{self.name}: data {path} not found (from `path:` in {self.source_file or 'its YAML'}; "
                                    f"download it there, point `--data {self.name}=PATH` at your copy, or change `path:`)")
        return path

    def available(self, root: Path) -> bool:
        return (Path(root) / self.path).exists()

    def layout(self, root: Path) -> Layout:
        """The layout its data is in (`format:`, or recognised from the files)."""
        if self.loader not in LOADERS:
            raise ValueError(f"{self.source_file}: loader {self.loader!r} is not one of {sorted(LOADERS)}")
        return choose(self, self.data(root), LOADERS[self.loader])

    def listed(self, root: Path) -> Iterator[EvalItem]:
        """Every item of the split in file order, its images not read yet (`EvalItem.ready` reads them)."""
        return self.layout(root).read(self, Path(root), self.data(root))

    def items(self, root: Path, limit: int = 0) -> list[EvalItem]:
        """The benchmark's items in file order; with `limit`, a fixed sample of that many (see `sample`), of which
        only the chosen ones read their images."""
        return [item.ready() for item in sample(list(self.listed(root)), limit)]


def sample(items: list[EvalItem], limit: int) -> list[EvalItem]:
    """`limit` items chosen by a hash of their id (all when limit is 0 or larger), kept in file order.

    Not the first `limit`: published files are often sorted (PubMedQA's test ids list every "yes" before
    any "no", so its first 200 items all have the answer A), and a head of a sorted file measures a
    model's favourite letter, not the benchmark. A hash of the id picks the same items on every machine
    and every run, whatever the file order, and each item's chance of being picked is the same.
    """
    if not limit or limit >= len(items):
        return items
    chosen = set(sorted(range(len(items)), key=lambda i: hashlib.sha256(items[i].id.encode()).hexdigest())[:limit])
    return [item for i, item in enumerate(items) if i in chosen]


def register(name: str, layouts: list[Layout]) -> None:
    """Make a loader (the layouts it reads, most usual first) available to YAMLs as `loader: name`."""
    LOADERS[name] = layouts


def read_benchmark(path: Path) -> Benchmark:
    raw = read_yaml_mapping(path)
    known = set(Benchmark.__dataclass_fields__) - {"source_file"}
    unknown = sorted(set(raw) - known)
    missing = sorted({"name", "version", "group", "loader", "path", "task"} - set(raw))
    if unknown or missing:
        raise ValueError(f"{path}: unknown keys {unknown}, missing keys {missing}")
    if raw["task"] not in TASKS:
        raise ValueError(f"{path}: task {raw['task']!r} is not one of {TASKS}")
    raw["medevalkit"] = raw.get("medevalkit") or {}
    Settings.parse(raw["medevalkit"], str(path))  # a misspelt key or rule fails here, before any work
    return Benchmark(**raw, source_file=str(path))


def discover(extra_dirs: list[Path] = ()) -> dict[str, Benchmark]:
    """Every benchmark YAML by name; a later directory may not silently redefine a name."""
    found: dict[str, Benchmark] = {}
    for folder in [BUILTIN_DIR, *extra_dirs]:
        for path in sorted(Path(folder).glob("*.yaml")):
            bench = read_benchmark(path)
            if bench.name in found:
                raise ValueError(f"benchmark {bench.name!r} defined twice: {found[bench.name].source_file} and {path}")
            found[bench.name] = bench
    return found


def select(names: list[str], extra_dirs: list[Path] = ()) -> list[Benchmark]:
    """Benchmarks by name or group (`all`: every one), each once, in the order named."""
    known = discover(extra_dirs)
    groups = {b.group for b in known.values()}
    chosen: list[Benchmark] = []
    for name in names:
        if name == ALL:
            chosen += list(known.values())
        elif name in known:
            chosen.append(known[name])
        elif name in groups:
            chosen += [b for b in known.values() if b.group == name]
        else:
            raise ValueError(f"unknown benchmark or group {name!r}; known: {sorted(known)} / groups {sorted(groups)} / {ALL}")
    return list({b.name: b for b in chosen}.values())
