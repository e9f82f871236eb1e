"""Published scores as data, and a run's scores set beside them (`lingshu eval --compare-to lingshu-7b`).

A paper's number is one measurement of one model under its authors' protocol; a reproduction is another,
with an interval. Each file under lingshu/eval/published/ holds one model's published row(s) with their
source (paper, arXiv version, table, column) and names the lingshu benchmark each column is compared
with (none where lingshu has no identical test). `compare` pairs them with a run's results and says, per
benchmark, whether the run's 95% bootstrap interval covers the published value: a published score outside
the interval is a difference the question sampling alone does not explain (protocols, judges, splits and
models may).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lingshu.io import read_yaml_mapping

PUBLISHED_DIR = Path(__file__).parent / "published"
_KEYS = {"name", "model", "source", "protocol", "scores"}
_SCORE_KEYS = {"table", "column", "score", "benchmark", "note", "average_of"}


@dataclass(frozen=True)
class PublishedScore:
    table: int
    column: str
    score: float
    benchmark: str | None = None  # the lingshu benchmark it compares with; None: no identical test here
    note: str = ""
    average_of: tuple[str, ...] = ()  # for an average column: the columns it averages


@dataclass
class Published:
    name: str
    model: str
    source: dict
    protocol: str
    scores: list[PublishedScore] = field(default_factory=list)
    file: str = ""

    def cite(self) -> str:
        return f"{self.source.get('url') or self.source.get('arxiv', '')}"


def read_published(path: Path) -> Published:
    """One published file; unknown or missing keys, and a score that is no number, are errors naming the file."""
    raw = read_yaml_mapping(path)
    unknown, missing = sorted(set(raw) - _KEYS), sorted(_KEYS - set(raw))
    if unknown or missing:
        raise ValueError(f"{path}: unknown keys {unknown}, missing keys {missing}")
    scores = []
    for i, entry in enumerate(raw["scores"] or []):
        where = f"{path} scores[{i}]"
        if not isinstance(entry, dict) or set(entry) - _SCORE_KEYS or not {"table", "column", "score"} <= set(entry):
            raise ValueError(f"{where}: expected table, column, score (and benchmark, note or average_of), got {entry!r}")
        if not isinstance(entry["score"], (int, float)) or isinstance(entry["score"], bool):
            raise ValueError(f"{where}: field 'score' is {entry['score']!r}, not a number")
        scores.append(PublishedScore(int(entry["table"]), str(entry["column"]), float(entry["score"]),
                                     entry.get("benchmark"), str(entry.get("note") or ""),
                                     tuple(entry.get("average_of") or ())))
    return Published(raw["name"], raw["model"], dict(raw["source"]), raw["protocol"], scores, str(path))


def published(name_or_path: str, extra_dirs: list[Path] = ()) -> Published:
    """The published file named `name:` under lingshu/eval/published/ (or `extra_dirs`), or a YAML file's path."""
    if name_or_path.endswith((".yaml", ".yml")) and Path(name_or_path).is_file():
        return read_published(Path(name_or_path))
    known = {}
    for folder in [PUBLISHED_DIR, *extra_dirs]:
        for path in sorted(Path(folder).glob("*.yaml")):
            entry = read_published(path)
            known[entry.name] = entry
    if name_or_path not in known:
        raise ValueError(f"no published scores named {name_or_path!r}; known: {', '.join(sorted(known))} "
                         f"(lingshu/eval/published/*.yaml), or pass a YAML file's path")
    return known[name_or_path]


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    published: PublishedScore
    score: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def difference(self) -> float:
        return self.score - self.published.score

    @property
    def covered(self) -> bool:
        """Whether this run's 95% interval covers the published score."""
        return self.ci_low <= self.published.score <= self.ci_high


def compare(results: list[dict], reference: Published) -> tuple[list[Comparison], list[PublishedScore], list[str]]:
    """(each evaluated benchmark with a published score beside it, the published scores of benchmarks not
    evaluated or without a lingshu twin, the evaluated benchmarks the reference has no score for)."""
    by_name = {r["benchmark"]: r for r in results}
    rows, unmatched = [], []
    for entry in reference.scores:
        result = by_name.get(entry.benchmark) if entry.benchmark else None
        if result is None:
            unmatched.append(entry)
            continue
        rows.append(Comparison(entry.benchmark, entry, result["score"], result["ci_low"], result["ci_high"], result["n"]))
    compared = {row.benchmark for row in rows}
    return rows, unmatched, [name for name in by_name if name not in compared]
