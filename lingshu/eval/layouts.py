"""The layouts a benchmark's data comes in, and which one the files at its `path` are in.

One benchmark reaches users in several layouts: the files its authors publish, the Hugging Face dataset
MedEvalKit loads (here: local parquet/arrow shards or a `save_to_disk` folder, offline) and MedEvalKit's
own local folders. A loader lists the layouts it reads, each with the files it expects (for messages),
the table kinds it reads (lingshu.eval.tables) and the fields its records must have. A benchmark YAML may
name one (`format: hf`); otherwise the first layout whose kind and fields fit the files is used, and when
none fits the error lists every layout with what it expects and what was found instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from lingshu.eval.tables import HF_KINDS, TEXT_KINDS, open_table

if TYPE_CHECKING:
    from lingshu.eval.benchmark import Benchmark, EvalItem

Reader = Callable[["Benchmark", Path, Path], Iterator["EvalItem"]]  # (benchmark, root, data path) -> items


@dataclass(frozen=True)
class Layout:
    """One layout a loader reads: `read(bench, root, path)` yields its items, images left to `EvalItem.fetch`."""

    name: str  # what `format:` in a benchmark YAML calls it: published, hf, medevalkit, ...
    files: str  # what its files look like, for messages: "test.json, a JSON list (+ imgs/)"
    read: Reader
    fields: tuple[str, ...] = ()  # fields every record has; "a|b" when either will do
    kinds: tuple[str, ...] = TEXT_KINDS + HF_KINDS
    recognise: Callable[["Benchmark", Path], str | None] | None = None  # for folder layouts: what is amiss, or None

    def problem(self, bench: "Benchmark", path: Path) -> str | None:
        """Why the data at `path` is not in this layout, or None when it is."""
        if self.recognise is not None:
            return self.recognise(bench, path)
        try:
            table = open_table(path, bench.split)
            if table.kind not in self.kinds:
                return f"it is {table.kind}, this layout is {' or '.join(self.kinds)}"
            columns = set(table.columns())
        except ValueError as exc:
            return str(exc)
        missing = [name for name in self.fields if not set(name.split("|")) & columns]
        if missing:
            return f"no field {', '.join(repr(m) for m in missing)} (its fields: {', '.join(sorted(columns)) or 'none'})"
        return None


def choose(bench: "Benchmark", path: Path, layouts: list[Layout]) -> Layout:
    """The YAML's `format`, checked against the files, or else the first layout the files are in."""
    names = [layout.name for layout in layouts]
    if bench.format:
        if bench.format not in names:
            raise ValueError(f"{bench.source_file}: format {bench.format!r} is not one of the layouts loader "
                             f"{bench.loader!r} reads: {', '.join(names)}")
        layout = layouts[names.index(bench.format)]
        problem = layout.problem(bench, path)
        if problem:
            raise ValueError(f"{bench.name}: {path} is not in layout {layout.name!r} ({layout.files}), which "
                             f"`format:` in {bench.source_file} names: {problem}")
        return layout
    problems = []
    for layout in layouts:
        problem = layout.problem(bench, path)
        if problem is None:
            return layout
        problems.append(f"  - {layout.name}: {layout.files}: {problem}")
    raise ValueError(f"{bench.name}: {path} is in none of the layouts loader {bench.loader!r} reads:\n"
                     + "\n".join(problems) + f"\n(`format:` in {bench.source_file} can name one of them)")


def need(record: dict, name: str, where: str):
    """record[name], or an error naming the record's place, the field and the fields it does have."""
    if record.get(name) is None:
        state = "is null" if name in record else "is missing"
        raise ValueError(f"{where}: field {name!r} {state} (fields: {', '.join(sorted(record))})")
    return record[name]


def first_of(record: dict, names: tuple[str, ...], where: str):
    """The first of `names` that the record fills, or an error naming them all."""
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    raise ValueError(f"{where}: none of the fields {', '.join(repr(n) for n in names)} is filled "
                     f"(fields: {', '.join(sorted(record))})")
