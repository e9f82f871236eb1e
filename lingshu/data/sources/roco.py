"""ROCO radiology captions (text only: the release ships download links, not images).

Each line of the captions file is `ROCO_ID<TAB>caption`; the licences CSV gives each item's own licence
(CC BY, CC BY-NC, ...), which wins over the source-level licence.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import finish, iter_lines, qa_turns, rel, reject

PROMPT = "Write the caption of a radiology figure from a medical publication."


def _licences(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        return {row["ROCO_ID"]: row["CC"] for row in csv.DictReader(fh) if row.get("ROCO_ID")}


@register("roco_txt", options=("licences",))
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    path = repo / src.path
    licences = _licences(repo / src.options["licences"]) if src.options.get("licences") else {}
    file = rel(path, repo)
    for number, text, _raw in iter_lines(path):
        record_id = f"line{number}"
        try:
            if text is None:
                raise BadRecord("invalid_utf8", f"line {number}")
            roco_id, _, caption = text.partition("\t")
            record_id = roco_id.strip() or record_id
            if not roco_id.strip() or not caption.strip():
                raise BadRecord("missing_field", "id or caption")
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"line={number}")
            continue
        yield finish(
            Sample(
                id=f"{src.name}:{record_id}",
                source=src.name,
                group=src.group,
                task="caption",
                conversations=qa_turns(PROMPT, caption, 0),
                modality="text",
                licence=licences.get(record_id, src.licence),
                split=src.split,
                provenance_file=file,
                provenance_record=f"line={number}",
                meta={"roco_id": record_id},
            )
        )
