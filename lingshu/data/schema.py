"""The one record format every sample follows, from every loader to every curated table.

A sample is a conversation (user/assistant turns) with zero or more images, plus the labels the
recipe needs to mix and ablate data: its group, task, modality and body part, its licence and split,
and provenance that points back to the exact source file and record. The same fields go to Parquet
through `ARROW_SCHEMA`, so curated tables load with `datasets.load_dataset("parquet", ...)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

GROUPS = (
    "medical_multimodal",
    "general_multimodal",
    "medical_text",
    "general_text",
    "medical_caption",
    "synthetic_multimodal",
    "medical_cot",
)
TASKS = ("caption", "vqa", "mcq", "report", "dialogue")
SPLITS = ("train", "validation", "test")
ROLES = ("user", "assistant")
# Image modalities (the recipe's 12 plus generated charts/tables); text-only samples use "text".
MODALITIES = (
    "x-ray", "ct", "mri", "ultrasound", "microscopy", "histopathology", "oct", "pet", "nuclear",
    "dermoscopy", "endoscopy", "fundus", "photo", "chart", "table", "text",
)
IMAGE_TOKEN = "<image>"


def image_labels(n_images: int) -> list[str]:
    """The text put before each image of a user turn: nothing for a single image, "<image_i>: " for several.

    This is the evaluation's layout (MedEvalKit's), used by training data too, so that a model is trained
    on exactly the token layout it is asked in.
    """
    return [""] if n_images == 1 else [f"<image_{i + 1}>: " for i in range(n_images)]


def user_content(text: str, n_images: int) -> str:
    """A user turn: its images' placeholders first, laid out as the evaluation prompts them, then the text."""
    return "".join(label + IMAGE_TOKEN for label in image_labels(n_images)) + text


@dataclass
class ImageSource:
    """An image a loader found, read lazily so that no more than one image is in memory at a time.

    `ref` is a human-readable pointer (a repo-relative path, or "file.dcm#frame=3"); `read` returns the
    encoded bytes and raises `BadRecord` with a reason when the source cannot produce an image.
    """

    ref: str
    read: Callable[[], bytes]
    modality: str | None = None


@dataclass
class Sample:
    """One training or evaluation record."""

    id: str
    source: str
    group: str
    task: str
    conversations: list[dict[str, str]]
    images: list[Any] = field(default_factory=list)  # ImageSource before curation, store keys after
    modality: str | None = None
    modality_source: str | None = None  # metadata | classifier | None
    body_part: str | None = None
    licence: str = ""
    split: str = "train"
    provenance_file: str = ""
    provenance_record: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def text_of(self, role: str) -> str:
        """All turns of one role joined, without image placeholders."""
        return "\n".join(t["content"].replace(IMAGE_TOKEN, "").strip() for t in self.conversations if t["role"] == role)

    def overlap_text(self) -> str:
        """The text compared against benchmarks and other samples: the question, or the whole answer for
        captions and reports (whose prompt is generic)."""
        if self.task in ("caption", "report"):
            return self.text_of("assistant")
        return str(self.meta.get("question") or self.text_of("user"))

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "group": self.group,
            "task": self.task,
            "conversations": self.conversations,
            "images": [str(i) for i in self.images],
            "modality": self.modality,
            "modality_source": self.modality_source,
            "body_part": self.body_part,
            "licence": self.licence,
            "split": self.split,
            "provenance": {"file": self.provenance_file, "record": self.provenance_record},
            "meta": json.dumps(self.meta, sort_keys=True, ensure_ascii=False),
        }


    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Sample":
        """A curated table's row as a sample (its images are store keys)."""
        provenance = row.get("provenance") or {}
        fields = {k: row[k] for k in ("id", "source", "group", "task", "conversations", "images", "modality",
                                      "modality_source", "body_part", "licence", "split")}
        return cls(**fields, provenance_file=provenance.get("file") or "", provenance_record=provenance.get("record") or "",
                   meta=json.loads(row["meta"]) if row.get("meta") else {})


class BadRecord(Exception):
    """A record or image that must be quarantined; `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Rejected:
    """A dropped input record and why; written to the rejected table so nothing is lost silently."""

    id: str
    source: str
    reason: str
    detail: str = ""
    provenance_file: str = ""
    provenance_record: str = ""
    step: str = ""

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "reason": self.reason,
            "detail": self.detail[:2000],
            "step": self.step,
            "provenance": {"file": self.provenance_file, "record": self.provenance_record},
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Rejected":
        provenance = row.get("provenance") or {}
        return cls(row["id"], row["source"], row["reason"], row["detail"], provenance.get("file") or "",
                   provenance.get("record") or "", row["step"])

    @classmethod
    def of(cls, sample: Sample, reason: str, detail: str, step: str) -> "Rejected":
        return cls(sample.id, sample.source, reason, detail, sample.provenance_file, sample.provenance_record, step)


PROVENANCE = pa.struct([("file", pa.string()), ("record", pa.string())])
ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("group", pa.string()),
        ("task", pa.string()),
        ("conversations", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.string())),
        ("modality", pa.string()),
        ("modality_source", pa.string()),
        ("body_part", pa.string()),
        ("licence", pa.string()),
        ("split", pa.string()),
        ("provenance", PROVENANCE),
        ("meta", pa.string()),
    ]
)
REJECTED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("step", pa.string()),
        ("provenance", PROVENANCE),
    ]
)


def table_files(folder: str | Path) -> dict[str, list[Path]]:
    """The Parquet files of each table in a folder, in reading order: `<table>.parquet` (one file) and
    `<table>/*.parquet` (shards, by name). Curated groups are shards; older runs and other tools write single
    files; both read the same. An image store beside the tables (synthesis writes `images/`) is not a table."""
    from lingshu.data.store import is_image_store

    folder = Path(folder)
    tables: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return tables
    for path in sorted(folder.glob("*.parquet")):
        tables.setdefault(path.stem, []).append(path)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        shards = sorted(sub.glob("*.parquet"))
        if shards and not is_image_store(sub):
            tables.setdefault(sub.name, []).extend(shards)
    return tables


def read_table(paths: list[Path]) -> pa.Table:
    """One table from its files (`table_files`), in order; the schema of the first."""
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in paths]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def check_sample(sample: Sample) -> None:
    """Raise BadRecord when a loaded sample does not follow the schema (caught and quarantined by curate)."""
    if not sample.id:
        raise BadRecord("missing_field", "id")
    if sample.group not in GROUPS:
        raise BadRecord("invalid_field", f"group={sample.group!r}")
    if sample.task not in TASKS:
        raise BadRecord("invalid_field", f"task={sample.task!r}")
    if sample.split not in SPLITS:
        raise BadRecord("invalid_field", f"split={sample.split!r}")
    if not sample.conversations:
        raise BadRecord("missing_field", "conversations")
    for turn in sample.conversations:
        if turn.get("role") not in ROLES or not str(turn.get("content") or "").strip():
            raise BadRecord("invalid_field", f"conversation turn {turn!r}")
    if sample.conversations[-1]["role"] != "assistant":
        raise BadRecord("invalid_field", "last turn is not the assistant's answer")
    n_tokens = sum(t["content"].count(IMAGE_TOKEN) for t in sample.conversations)
    if n_tokens != len(sample.images):
        raise BadRecord("invalid_field", f"{n_tokens} image placeholders for {len(sample.images)} images")
