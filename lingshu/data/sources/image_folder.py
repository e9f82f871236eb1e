"""A folder of images described by `metadata.jsonl`, the Hugging Face `imagefolder` convention.

Each line names an image (`file_name`, relative to the folder) and either a `caption` or a
`question` and `answer`; `modality`, `body_part`, `licence` and `split` are optional. This is the way to
bring a local image dataset into the pipeline. `row_to_sample` is shared with the `hf_dataset` loader,
which maps Hub rows through the same fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, ImageSource, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import (
    file_image, finish, id_of, iter_lines, normalise_modality, parse_json_line, qa_turns, rel, reject, safe_join,
    text_field,
)

CAPTION_PROMPT = "Describe this medical image."


def row_to_sample(row: dict[str, Any], image: ImageSource | None, src: SourceConfig, record_id: str,
                  file: str, record: str) -> Sample | Rejected:
    """Build a caption or VQA sample from a flat row; BadRecord problems become a rejected record."""
    images = [image] if image is not None else []
    try:
        if row.get("caption") not in (None, ""):
            task, turns = "caption", qa_turns(CAPTION_PROMPT, text_field(row, "caption"), len(images))
        elif row.get("question") not in (None, "") and row.get("answer") not in (None, ""):
            question, answer = text_field(row, "question"), text_field(row, "answer", numbers=True)
            task, turns = "vqa" if images else "dialogue", qa_turns(question, answer, len(images))
        else:
            raise BadRecord("missing_field", "caption, or question and answer")
    except BadRecord as bad:
        return reject(src, record_id, bad, file, record)
    modality = normalise_modality(row.get("modality")) or (row.get("modality") or None)
    return finish(
        Sample(
            id=f"{src.name}:{record_id}",
            source=src.name,
            group=src.group,
            task=task,
            conversations=turns,
            images=images,
            modality=modality if images else "text",
            modality_source="metadata" if modality and images else None,
            body_part=(str(row["body_part"]).lower() if row.get("body_part") else None),
            licence=str(row.get("licence") or src.licence),
            split=str(row.get("split") or src.split),
            provenance_file=file,
            provenance_record=record,
            meta={"question": str(row.get("question") or "")} if row.get("question") else {},
        )
    )


@register("image_folder")
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    folder = repo / src.path
    metadata = folder / "metadata.jsonl"
    file = rel(metadata, repo)
    for number, text, _raw in iter_lines(metadata):
        record_id = f"line{number}"
        try:
            row = parse_json_line(number, text)
            name = text_field(row, "file_name")
            record_id = id_of(row, ("id",), Path(name).stem or record_id)
            image = file_image(safe_join(folder, name), repo)
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"line={number}")
            continue
        yield row_to_sample(row, image, src, record_id, file, f"line={number}")
