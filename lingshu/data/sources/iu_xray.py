"""IU-Xray reports as bundled with MedEvalKit: findings + impression per study (image names, no images).

The prompt and the target are the evaluation's (lingshu.eval.prompts.REPORT; "Findings: {f} Impression: {i}"
by lingshu.eval.loaders.reports.report_text), so that a model trains on what it is asked and decontamination
against the IU-Xray benchmark compares like with like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import (
    finish, has_invalid_utf8, id_of, qa_turns, read_json_items, rel, reject, require,
)
from lingshu.eval.loaders.reports import report_text
from lingshu.eval.prompts import REPORT


@register("iu_xray_json")
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    file = rel(repo / src.path, repo)
    for index, record in enumerate(read_json_items(src, repo, list)):
        if isinstance(record, Rejected):
            yield record
            continue
        record_id = f"row{index}"
        try:
            if not isinstance(record, dict):
                raise BadRecord("invalid_field", "record is not an object")
            record_id = id_of(record, ("id",), record_id)
            if has_invalid_utf8(record):
                raise BadRecord("invalid_utf8", record_id)
            require(record, "id")
            findings, impression = (record.get(k) or "" for k in ("findings", "impression"))
            if not isinstance(findings, str) or not isinstance(impression, str):
                raise BadRecord("invalid_field", "findings and impression must be text")
            if not (findings.strip() or impression.strip()):
                raise BadRecord("empty_report", "findings and impression are both empty")
        except BadRecord as bad:
            yield reject(src, record_id, bad, file, f"index={index}")
            continue
        text = report_text(findings, impression)
        yield finish(
            Sample(
                id=f"{src.name}:{record_id}",
                source=src.name,
                group=src.group,
                task="report",
                conversations=qa_turns(REPORT, text, 0),
                modality="text",
                body_part="chest",
                licence=src.licence,
                split=src.split,
                provenance_file=file,
                provenance_record=f"index={index}",
                meta={"study_images": list(record.get("image") or [])},
            )
        )
