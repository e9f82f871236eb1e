"""The record writers of the scale corpus (lingshu.data.scale_corpus): one per source format, each writing
base records and the planted problems of its source, and telling the answer key what curation must do.

A base record is what curation keeps: a question (or caption) about an original image, or a
multiple-choice question. A plant copies or breaks something; it refers back only to a bounded window of
recent images and questions, so that generation streams. Plants that need an earlier record take one that
curation keeps and that claimed its image or text first (a train-split record, written earlier, with a
smaller id), so the expected winner is the same under a first-come rule and under a best-(priority, id) rule.
"""

from __future__ import annotations

import json
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lingshu.config import CurateConfig
from lingshu.data import scale_images as images
from lingshu.data import scale_text as text
from lingshu.data.images import inspect_image

WINDOW = 64  # recent images / questions a plant may copy
CAPTIONED = 0.3  # share of an image folder's images that also get a caption
ORGANS = ("head", "chest", "abd")
QUESTION_TYPES = ("PRES", "ABN", "POS", "SIZE", "ATTRIB", "OTHER")


class Shared:
    """What every writer of one corpus shares: the random stream, the config, the key, the taken pHashes,
    the image counter and the benchmark items to copy."""

    def __init__(self, rng: random.Random, seed: int, cfg: CurateConfig, key: Callable, benchmarks: list[str],
                 root: Path):
        self.rng, self.seed, self.cfg, self.key = rng, seed, cfg, key
        self.near = text.NearDuplicates(cfg.near_dup_threshold, cfg.minhash_num_perm)
        self.taken: set[int] = set()
        self.next_image = self.images_written = self.collisions = self.next_record = 0
        self.questions_per_image = 2.5
        self.bench_images: list = []  # ImageSources of the test images curation can read
        self.bench_texts: list[str] = []
        self.read_benchmarks(benchmarks, root)

    def read_benchmarks(self, names: list[str], root: Path) -> None:
        """The benchmarks' test questions and readable images, as decontamination reads them; their pHashes are
        taken, so no original is an accidental copy of a test image."""
        from lingshu.data.decontam import benchmark_items, select_benchmarks
        from lingshu.data.dedup import normalise_text
        from lingshu.data.schema import BadRecord

        seen: set[str] = set()
        for item in benchmark_items(select_benchmarks(names), root):
            if normalise_text(item.text):
                self.bench_texts.append(item.text)
            for image in item.images:
                if image.ref in seen:
                    continue
                seen.add(image.ref)
                try:
                    info = inspect_image(image.read(), 1, self.cfg.max_image_pixels, self.cfg.jpeg_draft)[0]
                except BadRecord:
                    continue
                self.taken.add(info.phash)
                if min(info.width, info.height) >= self.cfg.min_image_side:
                    self.bench_images.append(image)

    def can(self, kind: str) -> bool:
        """Whether a plant of `kind` has what it copies (a benchmark may have no images, or no text)."""
        return {"benchmark_image": bool(self.bench_images), "benchmark_question": bool(self.bench_texts)}.get(kind, True)

    def record_id(self) -> str:
        self.next_record += 1
        return f"{self.next_record:08d}"

    def original(self):
        """(image, encoded bytes, extension, pHash, modality) of a new original whose pHash no image has."""
        while True:
            index = self.next_image
            self.next_image += 1
            modality = self.rng.choice(tuple(images.STYLES))
            picture = images.original(self.seed, index, modality, self.cfg.min_image_side)
            jpeg = self.rng.random() < 0.25
            data = images.encode(picture, "JPEG", quality=90) if jpeg else images.encode(picture, "PNG")
            if jpeg:  # what curation sees is the decoded JPEG: copies are made from it
                picture = images.decoded(data)
            phash = images.phash(data, self.cfg)
            if phash not in self.taken:
                self.taken.add(phash)
                return picture, data, "jpg" if jpeg else "png", phash, modality
            self.collisions += 1


@dataclass
class Group:
    """An original image and what was written about it: the record that claimed it, the long questions a
    near-duplicate may copy, its caption."""

    path: str
    picture: Any
    data: bytes
    phash: int
    modality: str
    split: str
    first: str = ""
    long: list[tuple[str, str, str]] = field(default_factory=list)  # (id, question, answer)
    caption: str = ""


class Output:
    """Records written one at a time as JSON Lines, or as the elements of one JSON array."""

    def __init__(self, path: Path, array: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh, self.array, self.lines = path.open("wb"), array, 0
        if array:
            self.fh.write(b"[\n")

    def write(self, record: dict | bytes) -> int:
        """Write a record (or raw bytes for a broken line); returns its line number (JSON Lines)."""
        raw = record if isinstance(record, bytes) else json.dumps(record, ensure_ascii=False).encode()
        if self.array and self.lines:
            self.fh.write(b",\n")
        self.fh.write(raw if self.array else raw + b"\n")
        self.lines += 1
        return self.lines

    def close(self) -> None:
        if self.array:
            self.fh.write(b"\n]\n")
        self.fh.close()


class Records:
    """What both writers share: the output, the key, and lines that are not a record at all."""

    s: Shared
    name: str
    out: Output

    def per_base(self) -> float:
        """Records one `base()` call writes on average."""
        return 1.0

    def bad_line(self, tail: bytes, reason: str, kind: str) -> None:
        """A line starting like a record, then `tail` (invalid JSON or UTF-8): the loader names it by line number."""
        line = self.out.write(b'{"id": "' + self.s.record_id().encode() + b'", ' + tail)
        self.s.key(f"{self.name}:line{line}", self.name, reason, kind)

    def close(self) -> None:
        self.out.close()


class ImageRecords(Records):
    """An image source: `image_folder` (metadata.jsonl) or `vqa_rad_json` (a JSON array, images under images/)."""

    def __init__(self, shared: Shared, name: str, folder: Path, layout: str):
        self.s, self.name, self.folder, self.layout = shared, name, folder, layout
        self.vqa_rad = layout == "vqa_rad_json"
        self.image_root = folder / "images" if self.vqa_rad else folder
        self.out = Output(folder / ("vqa_rad.json" if self.vqa_rad else "metadata.jsonl"), array=self.vqa_rad)
        self.window: deque[Group] = deque(maxlen=WINDOW)
        self.shard = ""

    def source_config(self) -> dict:
        path = self.out.fh.name if self.vqa_rad else str(self.folder)
        options = {"image_dir": "images"} if self.vqa_rad else {}
        return {"name": self.name, "format": self.layout, "path": path, "group": "medical_multimodal",
                "licence": "generated (CC0-1.0)", "options": options}

    def write_image(self, data: bytes, ext: str) -> str:
        index = self.s.images_written
        self.s.images_written += 1
        shard = f"{index // 1000:06d}"
        if shard != self.shard:
            (self.image_root / shard).mkdir(parents=True, exist_ok=True)
            self.shard = shard
        name = f"{shard}/{index:08d}.{ext}"
        (self.image_root / name).write_bytes(data)
        return name

    def row(self, path: str, group: Group | None, question: str | None, answer: str | None,
            caption: str | None = None) -> tuple[str, dict]:
        """(record id, row) in this source's layout; a None question or answer leaves the field out."""
        record_id, rng = self.s.record_id(), self.s.rng
        split = group.split if group is not None else "train"
        if self.vqa_rad:
            row = {"qid": record_id, "image_name": path, "question": question, "answer": answer,
                   "answer_type": "CLOSED" if answer in text.ANSWERS_CLOSED else "OPEN",
                   "question_type": rng.choice(QUESTION_TYPES),
                   "phrase_type": "test_freeform" if split == "test" else "freeform", "image_organ": rng.choice(ORGANS)}
        else:
            row = {"id": record_id, "file_name": path, "question": question, "answer": answer, "caption": caption}
            if group is not None and group.modality:
                row["modality"] = group.modality
        return record_id, {k: v for k, v in row.items() if v is not None}

    def emit(self, path: str, group: Group | None, question: str | None, answer: str | None,
             reason: str = "", plant: str = "", of: str = "", caption: str | None = None) -> str:
        record_id, row = self.row(path, group, question, answer, caption)
        self.out.write(row)
        self.s.key(f"{self.name}:{record_id}", self.name, reason, plant, of)
        return record_id

    def per_base(self) -> float:
        high = max(1, round(2 * self.s.questions_per_image - 1))
        return (1 + high) / 2 + (0 if self.vqa_rad else CAPTIONED)

    def base(self, budget: int) -> int:
        """One original image with 1.. questions (and, in an image folder, sometimes a caption); returns records."""
        rng, cfg = self.s.rng, self.s.cfg
        picture, data, ext, phash, modality = self.s.original()
        split = "test" if self.vqa_rad and rng.random() < 0.1 else "train"
        group = Group(self.write_image(data, ext), picture, data, phash,
                      modality if rng.random() < 0.85 else "", split)
        count = min(budget, rng.randint(1, max(1, round(2 * self.s.questions_per_image - 1))))
        for _ in range(count):
            long = rng.random() < 0.3
            question = text.question(rng, 40, 90) if long else text.question(rng)
            answer = text.answer(rng)[0]
            record_id = self.emit(group.path, group, question, answer)
            group.first = group.first or record_id
            if long and split == "train":
                group.long.append((record_id, question, answer))
        if not self.vqa_rad and count < budget and rng.random() < CAPTIONED:
            tokens = rng.randint(cfg.caption_min_tokens + 2, max(cfg.caption_min_tokens + 2, min(40, cfg.caption_max_tokens - 2)))
            group.caption = self.emit(group.path, group, None, None, caption=text.caption(rng, tokens))
            count += 1
        self.window.append(group)
        return count

    def pick(self, wanted: Callable[[Group], bool]) -> Group | None:
        fits = [g for g in self.window if wanted(g)]
        return self.s.rng.choice(fits) if fits else None

    def plant(self, kind: str, reason: str) -> bool:
        """Write one planted record of `kind`; False when the window has nothing it can copy yet."""
        rng, cfg = self.s.rng, self.s.cfg
        wants = {"reencoded_image": lambda g: g.split == "train" and g.first,
                 "reencoded_caption_image": lambda g: g.caption,
                 "near_duplicate_question": lambda g: g.long}
        group = self.pick(wants.get(kind, lambda g: True))
        if group is None:
            return False
        question, answer = text.question(rng), text.answer(rng)[0]
        if kind in ("reencoded_image", "reencoded_caption_image"):
            data, ext = images.reencoded(group.picture, group.data, group.phash, cfg, rng)
            path = self.write_image(data, ext)
            if kind == "reencoded_caption_image":
                caption = text.caption(rng, cfg.caption_min_tokens + 5)
                self.emit(path, group, None, None, reason, kind, group.caption, caption=caption)
            else:
                self.emit(path, group, question, answer, reason, kind, group.first)
        elif kind == "near_duplicate_question":
            of, original, answer = rng.choice(group.long)
            self.emit(group.path, group, self.s.near.edit(original, answer, rng), answer, reason, kind, of)
        elif kind == "benchmark_image":
            image = rng.choice(self.s.bench_images)
            path = self.write_image(image.read(), image.ref.rsplit(".", 1)[-1].lower())
            self.emit(path, None, question, answer, reason, kind, image.ref)
        elif kind == "short_caption":
            caption = text.caption(rng, max(1, cfg.caption_min_tokens // 2 - 1))
            self.emit(group.path, group, None, None, reason, kind, caption=caption)
        elif kind in images.BROKEN:
            data, ext = images.broken(kind, group.picture, cfg)
            self.emit(self.write_image(data, ext), None, question, answer, reason, kind)
        elif kind in ("missing_image", "escaping_path"):
            path = "missing/none.png" if kind == "missing_image" else "../outside.png"
            self.emit(path, None, question, answer, reason, kind)
        elif kind in ("missing_answer", "missing_question"):
            self.emit(group.path, group, None if kind == "missing_question" else question,
                      None if kind == "missing_answer" else answer, reason, kind)
        elif kind == "bad_json":
            self.bad_line(b'"file_name": ', reason, kind)
        else:
            raise KeyError(kind)
        return True


class McqRecords(Records):
    """A `mcq_jsonl` source: four-option questions with the answer's letter."""

    def __init__(self, shared: Shared, name: str, path: Path):
        self.s, self.name, self.path = shared, name, path
        self.out = Output(path, array=False)
        self.long: deque[tuple[str, str, dict, str]] = deque(maxlen=WINDOW)  # (id, question, options, letter)
        self.ids: deque[str] = deque(maxlen=WINDOW)

    def source_config(self) -> dict:
        return {"name": self.name, "format": "mcq_jsonl", "path": str(self.path), "group": "medical_text",
                "licence": "generated (CC0-1.0)", "options": {}}

    def emit(self, question: str | None, options: dict, letter: str, reason: str = "", plant: str = "",
             of: str = "", record_id: str = "") -> str:
        record_id = record_id or self.s.record_id()
        row = {"id": record_id, "question": question, "options": options, "answer_idx": letter}
        self.out.write({k: v for k, v in row.items() if v is not None})
        self.s.key(f"{self.name}:{record_id}", self.name, reason, plant, of)
        return record_id

    def options(self) -> tuple[dict, str]:
        rng = self.s.rng
        return {letter: " ".join(text.words(rng, 1, 4)) for letter in "ABCD"}, rng.choice("ABCD")

    def base(self, budget: int) -> int:
        rng = self.s.rng
        long = rng.random() < 0.3
        question = text.question(rng, 40, 90) if long else text.question(rng, 8, 30)
        options, letter = self.options()
        record_id = self.emit(question, options, letter)
        self.ids.append(record_id)
        if long:
            self.long.append((record_id, question, options, letter))
        return 1

    def plant(self, kind: str, reason: str) -> bool:
        rng = self.s.rng
        options, letter = self.options()
        if kind == "near_duplicate_question":
            if not self.long:
                return False
            of, question, options, letter = rng.choice(self.long)
            self.emit(self.s.near.edit(question, f"{letter}. {options[letter]}", rng), options, letter, reason, kind, of)
        elif kind == "benchmark_question":
            self.emit(rng.choice(self.s.bench_texts), options, letter, reason, kind)
        elif kind == "missing_question":
            self.emit(None, options, letter, reason, kind)
        elif kind == "duplicate_id":
            if not self.ids:
                return False
            of = rng.choice(self.ids)
            self.emit(text.question(rng, 8, 30), options, letter, reason, kind, of, record_id=of)
        elif kind in ("bad_json", "invalid_utf8"):
            self.bad_line(b'"question": ' + (b'"caf\xe9 \xff?"}' if kind == "invalid_utf8" else b'"unterminated}'),
                          reason, kind)
        else:
            raise KeyError(kind)
        return True
