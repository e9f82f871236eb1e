"""Benchmarks as data: one YAML file each, found by its `name:`, loaded into `EvalItem`s.

Adding a benchmark means adding a YAML file under lingshu/eval/benchmarks/ (or a folder passed with
`--benchmark-dir`), plus a loader function only when its source format is new. Generic code never
branches on a benchmark's name: the YAML's `task` picks prompts and extractors, `breakdown` names the
item fields to report accuracy by, `group` puts it in a suite.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from lingshu.eval.medevalkit_protocol import Settings
from lingshu.io import read_yaml_mapping

BUILTIN_DIR = Path(__file__).parent / "benchmarks"
TASKS = ("mcq", "vqa", "report")
LOADERS: dict[str, Callable[["Benchmark", Path], Iterator["EvalItem"]]] = {}


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
    medevalkit: dict = field(default_factory=dict)  # how MedEvalKit asks and judges it (medevalkit_protocol)
    source_file: str = ""

    def items(self, root: Path, limit: int = 0) -> list[EvalItem]:
        """The benchmark's items in file order; with `limit`, a fixed sample of that many (see `sample`)."""
        if self.loader not in LOADERS:
            raise ValueError(f"{self.source_file}: loader {self.loader!r} is not one of {sorted(LOADERS)}")
        return sample(list(LOADERS[self.loader](self, root)), limit)


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


def register(name: str):
    def wrap(fn):
        LOADERS[name] = fn
        return fn
    return wrap


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
    known = discover(extra_dirs)
    groups = {b.group for b in known.values()}
    chosen: list[Benchmark] = []
    for name in names:
        if name in known:
            chosen.append(known[name])
        elif name in groups:
            chosen += [b for b in known.values() if b.group == name]
        else:
            raise ValueError(f"unknown benchmark or group {name!r}; known: {sorted(known)} / groups {sorted(groups)}")
    return list({b.name: b for b in chosen}.values())
