"""PubMedQA PQA-L (`ori_pqal.json`): expert-labelled yes/no/maybe questions with their abstracts.

The ids listed in `options.test_ids` (the official test_ground_truth.json) are the benchmark's test
split: they are kept with split "test" so training uses only the other 500.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import BadRecord, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import (
    finish, has_invalid_utf8, qa_turns, read_json_items, rel, reject, require, text_field,
)

DECISIONS = ("yes", "no", "maybe")


@register("pubmedqa_json", options=("test_ids",))
def load(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    test_ids: set[str] = set()
    if src.options.get("test_ids"):
        test_ids = set(json.loads((repo / src.options["test_ids"]).read_text()))
    file = rel(repo / src.path, repo)
    for item in read_json_items(src, repo, dict):
        if isinstance(item, Rejected):
            yield item
            continue
        pmid, record = item
        try:
            if not isinstance(record, dict):
                raise BadRecord("invalid_field", "record is not an object")
            if has_invalid_utf8(record):
                raise BadRecord("invalid_utf8", f"pmid {pmid}")
            require(record, "CONTEXTS")
            question, decision = text_field(record, "QUESTION"), text_field(record, "final_decision").lower()
            if decision not in DECISIONS:
                raise BadRecord("invalid_field", f"final_decision={decision!r}")
            if not isinstance(record["CONTEXTS"], list) or not all(isinstance(c, str) for c in record["CONTEXTS"]):
                raise BadRecord("invalid_field", "CONTEXTS must be a list of text")
        except BadRecord as bad:
            yield reject(src, pmid, bad, file, f"pmid={pmid}")
            continue
        context = "\n".join(record["CONTEXTS"])
        prompt = f"Context: {context}\nQuestion: {question}\nAnswer with yes, no or maybe."
        answer = decision + (f"\n{record['LONG_ANSWER']}" if record.get("LONG_ANSWER") else "")
        yield finish(
            Sample(
                id=f"{src.name}:{pmid}",
                source=src.name,
                group=src.group,
                task="mcq",
                conversations=qa_turns(prompt, answer, 0),
                modality="text",
                licence=src.licence,
                split="test" if pmid in test_ids else src.split,
                provenance_file=file,
                provenance_record=f"pmid={pmid}",
                meta={"question": question, "answer": decision, "options": list(DECISIONS)},
            )
        )
