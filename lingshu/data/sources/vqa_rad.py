"""VQA-RAD from its official release, in either of its two native formats (JSON or XML).

Both files hold the same 2,248 question-answer pairs; `phrase_type` marks the 451-question test split
(test_freeform / test_para), which is kept as split "test" and never trained on. The release has no
modality field: when `options.modality_from` names the MEVF split folder, its per-image modality
labels (CT / MRI / X-Ray) are used as metadata.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import (
    file_image, finish, has_invalid_utf8, normalise_modality, qa_turns, read_json_document, rel, reject, require,
    safe_join, unparseable,
)

FIELDS = ("qid", "image_name", "question", "answer", "answer_type", "question_type", "phrase_type", "image_organ")


def _modality_map(folder: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    for name in ("trainset.json", "testset.json"):
        for record in json.loads((folder / name).read_text()):
            modality = normalise_modality(record.get("modality"))
            if modality:
                labels[record["image_name"]] = modality
    return labels


def _samples(records: list[dict], src: SourceConfig, path: Path, repo: Path) -> Iterator[Sample | Rejected]:
    image_dir = path.parent / src.options.get("image_dir", "images")
    modality_from = src.options.get("modality_from")
    modalities = _modality_map(repo / modality_from) if modality_from else {}
    file = rel(path, repo)
    for index, record in enumerate(records):
        record_id = str(record.get("qid") or f"row{index}")
        try:
            if has_invalid_utf8(record):
                raise BadRecord("invalid_utf8", f"record {record_id}")
            require(record, "qid", "image_name", "question", "answer")
            image = file_image(safe_join(image_dir, str(record["image_name"])), repo)
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"qid={record_id}")
            continue
        phrase = str(record.get("phrase_type") or "")
        modality = modalities.get(str(record["image_name"]))
        organ = str(record.get("image_organ") or "").strip().lower() or None
        yield finish(
            Sample(
                id=f"{src.name}:{record_id}",
                source=src.name,
                group=src.group,
                task="vqa",
                conversations=qa_turns(str(record["question"]), str(record["answer"]), 1),
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


@register("vqa_rad_json")
def load_json(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    records = read_json_document(src, repo, list)
    if isinstance(records, Rejected):
        yield records
        return
    yield from _samples([r if isinstance(r, dict) else {} for r in records], src, repo / src.path, repo)


@register("vqa_rad_xml")
def load_xml(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    path = repo / src.path
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        yield unparseable(src, path, repo, exc)
        return
    records = [{child.tag: (child.text or "").strip() for child in question} for question in root.findall("question")]
    yield from _samples(records, src, path, repo)
