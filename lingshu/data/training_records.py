"""Training data in the forms a model's training set comes in, as the records a contamination audit matches.

`lingshu audit --train PATH` accepts:
- a curated folder (data/curated, data/synthetic: one parquet table per group in the curated schema), or one
  such table; only split "train" records are trained on, so only those are read;
- any other table `lingshu.eval.tables` reads: a parquet, arrow, JSON, JSON lines or CSV file, or a Hugging
  Face dataset folder (hub shards, or `datasets.save_to_disk`), whose rows give a text field (question,
  caption, text, report) and an image field (embedded bytes or a path);
- a folder of images (its `metadata.jsonl`, the `imagefolder` convention, is read as a table when present);
- a source in any format curation reads (`--format vqa_rad_json`, ...), whose split "train" records are read.

A record is what matching needs (decontam.BenchmarkItem's counterpart): its id, the text curation matches
(`Sample.overlap_text`: the question, or the whole answer for captions and reports) and its images, read
lazily. Image paths in tables resolve against the given image folders, then the table's own folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterator

from lingshu.data.schema import BadRecord, ImageSource, Sample, table_files
from lingshu.data.store import ImageStore
from lingshu.data.sources.common import rel

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}  # DICOM: --format dicom_dir
TEXT_FIELDS = ("question", "caption", "text", "report")
IMAGE_FIELDS = ("image", "images", "image_path", "image_name", "file_name", "img_name")
CURATED_FIELDS = {"id", "task", "conversations", "images", "split", "meta"}
KINDS = ("curated", "table", "images", "source")


@dataclass
class TrainRecord:
    id: str
    text: str  # what it is matched on ("" for an image without text)
    images: list[ImageSource] = field(default_factory=list)


@dataclass
class TrainingData:
    """Where the training data is and how to read it; `records()` streams it, `skipped` counts what was not read."""

    path: Path
    kind: str
    image_dirs: list[Path] = field(default_factory=list)
    split: str = "train"
    text_field: str = ""
    image_field: str = ""
    source_format: str = ""
    source_options: dict = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @cached_property
    def _stores(self) -> list[ImageStore]:
        """The image folders that are image stores."""
        return [store for store in map(ImageStore, self.image_dirs) if store.shards()]

    def records(self, repo: Path) -> Iterator[TrainRecord]:
        reader = {"curated": self._curated, "table": self._table, "images": self._images, "source": self._source}
        yield from reader[self.kind](repo)

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def _curated(self, repo: Path) -> Iterator[TrainRecord]:
        paths = [p for ps in table_files(self.path).values() for p in ps] if self.path.is_dir() else [self.path]
        for path in paths:
            table = _open(path, self.split)
            if not CURATED_FIELDS <= set(table.columns()):
                self._skip(f"{path.name}: not a table of samples (e.g. a rejected table)")
                continue
            yield from self._curated_rows(table, repo)

    def _curated_rows(self, table, repo: Path) -> Iterator[TrainRecord]:
        for row in table.rows():
            if row.record["split"] != "train":
                self._skip(f"split {row.record['split']} (not trained on)")
                continue
            yield self._curated_record(row.record, repo)

    def _curated_record(self, record: dict, repo: Path) -> TrainRecord:
        sample = Sample(id=record["id"], source="", group="", task=record["task"],
                        conversations=list(record["conversations"]), meta=json.loads(record["meta"] or "{}"))
        return TrainRecord(sample.id, sample.overlap_text(), [self._image(key, repo) for key in record["images"]])

    def _table(self, repo: Path) -> Iterator[TrainRecord]:
        from lingshu.eval.tables import Cell

        table = _open(self.path, self.split)
        columns = set(table.columns())
        if CURATED_FIELDS <= columns:
            yield from self._curated_rows(table, repo)
            return
        text = self.text_field or next((n for n in TEXT_FIELDS if n in columns), "")
        image = self.image_field or next((n for n in IMAGE_FIELDS if n in columns), "")
        for name, given, known in (("--text-field", self.text_field, text), ("--image-field", self.image_field, image)):
            if given and given not in columns:
                raise ValueError(f"{self.path}: no field {given!r} ({name}); its fields: {', '.join(sorted(columns))}")
        if not text and not image:
            raise ValueError(f"{self.path}: none of the text fields {', '.join(TEXT_FIELDS)} or image fields "
                             f"{', '.join(IMAGE_FIELDS)} (its fields: {', '.join(sorted(columns))}); name them "
                             f"with --text-field / --image-field")
        for row in table.rows():
            record = row.record
            value = record.get(image) if image else None
            value = value.read() if isinstance(value, Cell) else value
            cells = [v for v in (value if isinstance(value, list) else [value]) if v not in (None, "")]
            record_id = str(record["id"]) if record.get("id") not in (None, "") else str(row.index)
            yield TrainRecord(record_id, str(record.get(text) or "") if text else "",
                              [self._cell_image(cell, f"{row.where} {image}", repo) for cell in cells])

    def _cell_image(self, value, where: str, repo: Path) -> ImageSource:
        """An image cell's value: embedded bytes (a hub `Image` {bytes, path}, raw bytes) or a path."""
        if isinstance(value, dict) and value.get("bytes"):
            data = bytes(value["bytes"])
            return ImageSource(ref=f"{where}", read=lambda: data)
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
            return ImageSource(ref=f"{where}", read=lambda: data)
        name = value.get("path") if isinstance(value, dict) else value
        if not name:
            raise ValueError(f"{where}: an image cell with neither bytes nor a path")
        return self._image(str(name), repo)

    def _image(self, name: str, repo: Path) -> ImageSource:
        """An image named relative to the image folders, then the data's own folder (the first that has it);
        a folder that is an image store (lingshu/data/store.py) is searched by key."""
        base = self.path if self.path.is_dir() else self.path.parent
        for store in self._stores:
            if name in store:
                return ImageSource(ref=f"{rel(store.root, repo)}:{name}", read=lambda s=store: s.read(name))
        candidates = [Path(name)] if Path(name).is_absolute() else [d / name for d in [*self.image_dirs, base]]
        path = next((c for c in candidates if c.is_file()), candidates[0])

        def read() -> bytes:
            if not path.is_file():
                raise BadRecord("missing_image", f"{name} (looked in {', '.join(str(c.parent) for c in candidates)})")
            return path.read_bytes()

        return ImageSource(ref=rel(path, repo), read=read)

    def _images(self, repo: Path) -> Iterator[TrainRecord]:
        if (self.path / "metadata.jsonl").is_file():
            yield from TrainingData(self.path / "metadata.jsonl", "table", [self.path, *self.image_dirs],
                                    text_field=self.text_field, image_field=self.image_field or "file_name",
                                    skipped=self.skipped)._table(repo)
            return
        for path in sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
            yield TrainRecord(path.relative_to(self.path).as_posix(), "", [self._image(str(path), repo)])

    def _source(self, repo: Path) -> Iterator[TrainRecord]:
        from lingshu.config import SourceConfig
        from lingshu.data.sources import load_source

        # group only has to pass the schema check: the records are matched, never written
        src = SourceConfig(name=self.path.stem or "train", format=self.source_format, path=str(self.path),
                           group="medical_multimodal", options=dict(self.source_options))
        for record in load_source(src, repo):
            if not isinstance(record, Sample):
                self._skip(f"rejected by the {self.source_format} loader ({record.reason})")
            elif record.split != "train":
                self._skip(f"split {record.split} (not trained on)")
            else:
                yield TrainRecord(record.id, record.overlap_text(), list(record.images))


def _open(path: Path, split: str):
    from lingshu.eval.tables import open_table

    return open_table(path, split)


def recognise(path: Path) -> str:
    """The kind of training data at `path` (curated, table or images), or an error saying what was found."""
    from lingshu.eval.tables import SUFFIXES

    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise ValueError(f"--train {path}: a {path.suffix or 'suffixless'} file; expected a table "
                             f"({', '.join(SUFFIXES)}), or pass --format with a format curation reads")
        return "table"
    if not path.is_dir():
        raise FileNotFoundError(f"--train {path} not found")
    if any((path / name).is_file() for name in ("dataset_dict.json", "state.json")) or any(path.glob("data/*.parquet")):
        return "table"
    if table_files(path):
        return "curated"
    if (path / "metadata.jsonl").is_file() or any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*")):
        return "images"
    raise ValueError(f"--train {path}: a folder with no parquet tables, no Hugging Face dataset and no images")
