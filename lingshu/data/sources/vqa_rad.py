"""VQA-RAD from its official release, in either of its two native formats (JSON or XML).

Both files hold the same 2,248 question-answer pairs; `phrase_type` marks the 451-question test split
(test_freeform / test_para), which is kept as split "test" and never trained on. The release has no
modality field: when `options.modality_from` names the MEVF split folder, its per-image modality
labels (CT / MRI / X-Ray) are used as metadata.

Each question is worded as the evaluation asks it (lingshu.eval.prompts: the yes/no, closed or open
instruction, chosen from the question and its answer_type, never from the answer), so a model trains on
the prompt it is tested with; `meta.question` keeps the question as released.

With `options.captions` set, each image also gets one short caption written from its metadata only
(recipe step 1 of long-caption synthesis): the modality, the imaged region (`image_organ`) and the
plane when an open PLANE answer names a standard one. The caption's split is "test" when any test
question uses the image, so held-out captions are images never trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable, Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import (
    file_image, finish, has_invalid_utf8, id_of, normalise_modality, qa_turns, read_json_items, rel, reject,
    require, safe_join, text_field, unparseable,
)
from lingshu.eval.prompts import vqa, vqa_kind

CAPTION_PROMPT = "Describe this medical image."
MODALITY_PHRASE = {"ct": "a CT scan", "mri": "an MRI scan", "x-ray": "a radiograph (X-ray)", "ultrasound": "an ultrasound image"}
REGION = {"head": "head", "chest": "chest", "abd": "abdomen"}
PLANES = {"axial": "axial", "axial plane": "axial", "coronal": "coronal", "sagittal": "sagittal", "pa": "PA",
          "posteroanterior": "PA", "ap": "AP", "lateral": "lateral"}
VQA_RAD_OPTIONS = ("image_dir", "modality_from", "captions")
FIELDS = ("qid", "image_name", "question", "answer", "answer_type", "question_type", "phrase_type", "image_organ")


MEVF_FILES = ("trainset.json", "testset.json")


def _modality_map(folder: Path) -> dict[str, str]:
    """Image name -> modality from the MEVF split files. They are configuration (`options.modality_from`), not
    records: a missing or malformed one stops the source with an error naming the file and the entry."""
    labels: dict[str, str] = {}
    for name in MEVF_FILES:
        path = folder / name
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"options.modality_from: {path} does not exist (the MEVF split folder holds "
                             f"{' and '.join(MEVF_FILES)})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"options.modality_from: {path} is not JSON: {exc}") from None
        if not isinstance(entries, list):
            raise ValueError(f"options.modality_from: {path} holds a {type(entries).__name__}, not a list of entries")
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("image_name"), str):
                raise ValueError(f"options.modality_from: {path} entry {position} has no image_name string")
            modality = normalise_modality(entry.get("modality"))
            if modality:
                labels[entry["image_name"]] = modality
    return labels


def check_modality_files(src: SourceConfig, repo: Path) -> None:
    if src.options.get("modality_from"):
        _modality_map(repo / src.options["modality_from"])


def _samples(records: Iterable[dict | Rejected], src: SourceConfig, path: Path, repo: Path) -> Iterator[Sample | Rejected]:
    """A Sample or a Rejected per record; a Rejected from the reader (an unparseable rest of the file) passes on."""
    image_dir = path.parent / src.options.get("image_dir", "images")
    modality_from = src.options.get("modality_from")
    modalities = _modality_map(repo / modality_from) if modality_from else {}
    file = rel(path, repo)
    for index, record in enumerate(records):
        if isinstance(record, Rejected):
            yield record
            continue
        record = record if isinstance(record, dict) else {}
        record_id = f"row{index}"
        try:
            record_id = id_of(record, ("qid",), record_id)
            if has_invalid_utf8(record):
                raise BadRecord("invalid_utf8", f"record {record_id}")
            require(record, "qid")
            question, answer = text_field(record, "question"), text_field(record, "answer", numbers=True)
            image = file_image(safe_join(image_dir, text_field(record, "image_name")), repo)
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"qid={record_id}")
            continue
        phrase = str(record.get("phrase_type") or "")
        modality = modalities.get(str(record["image_name"]))
        organ = str(record.get("image_organ") or "").strip().lower() or None
        kind = vqa_kind(question, str(record.get("answer_type") or "").strip() or None)
        yield finish(
            Sample(
                id=f"{src.name}:{record_id}",
                source=src.name,
                group=src.group,
                task="vqa",
                conversations=qa_turns(vqa(question, kind), answer, 1),
                images=[image],
                modality=modality,
                modality_source="metadata" if modality else None,
                body_part=organ,
                licence=src.licence,
                split="test" if phrase.startswith("test") else "train",
                provenance_file=file,
                provenance_record=f"qid={record_id}",
                meta={k: str(record.get(k, "")).strip() for k in FIELDS} | {"image": str(record["image_name"])},
            )
        )


def metadata_caption(modality: str | None, organ: str | None, plane: str | None) -> str:
    what = MODALITY_PHRASE.get(modality or "", "a radiology image")
    where = f" of the {REGION.get(organ or '', organ)}" if organ else ""
    how = f", {plane} plane" if plane else ""
    return f"MedPix teaching-case image: {what}{where}{how}."


@dataclass
class _ImageFacts:
    """What one image's caption is written from, gathered over the questions about it (not the samples: a
    source of a million questions must not be held to caption its images)."""

    first: Sample  # the image's first question, without its conversation and meta
    planes: list[str] = field(default_factory=list)
    qids: list[str] = field(default_factory=list)
    test: bool = False

    def add(self, sample: Sample) -> None:
        meta = sample.meta
        if meta.get("question_type") == "PLANE" and meta.get("answer", "").lower() in PLANES:
            self.planes.append(PLANES[meta["answer"].lower()])
        self.qids.append(meta["qid"])
        self.test = self.test or sample.split == "test"


def _caption(name: str, facts: _ImageFacts, src: SourceConfig) -> Sample | Rejected:
    first, planes = facts.first, facts.planes
    plane = max(sorted(set(planes)), key=planes.count) if planes else None
    return finish(Sample(
        id=f"{src.name}:caption:{name}",
        source=src.name,
        group="medical_caption",
        task="caption",
        conversations=qa_turns(CAPTION_PROMPT, metadata_caption(first.modality, first.body_part, plane), 1),
        images=[first.images[0]],
        modality=first.modality,
        modality_source=first.modality_source,
        body_part=first.body_part,
        licence=src.licence,
        split="test" if facts.test else "train",
        provenance_file=first.provenance_file,
        provenance_record=f"image={name}",
        meta={"image": name, "from_qids": ",".join(facts.qids)},
    ))


def _with_captions(items: Iterator[Sample | Rejected], src: SourceConfig) -> Iterator[Sample | Rejected]:
    """The loaded records, then (with `options.captions`) one metadata caption per distinct image among them."""
    if not src.options.get("captions"):
        yield from items
        return
    by_image: dict[str, _ImageFacts] = {}
    for item in items:
        if isinstance(item, Sample):  # a copy: curation replaces the image sources with store keys
            name = item.meta["image"]
            if name not in by_image:
                by_image[name] = _ImageFacts(replace(item, images=item.images[:1], conversations=[], meta={}))
            by_image[name].add(item)
        yield item
    for name, facts in sorted(by_image.items()):
        yield _caption(name, facts, src)


@register("vqa_rad_json", options=VQA_RAD_OPTIONS, check=check_modality_files)
def load_json(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    yield from _with_captions(_samples(read_json_items(src, repo, list), src, repo / src.path, repo), src)


@register("vqa_rad_xml", options=VQA_RAD_OPTIONS, check=check_modality_files)
def load_xml(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    path = repo / src.path
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        yield unparseable(src, path, repo, exc)
        return
    records = [{child.tag: (child.text or "").strip() for child in question} for question in root.findall("question")]
    yield from _with_captions(_samples(records, src, path, repo), src)
