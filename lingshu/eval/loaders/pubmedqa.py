"""PubMedQA PQA-L (`ori_pqal.json`, keyed by PMID) with its published test-id list; yes/no/maybe as A/B/C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register

CHOICES = {"A": "yes", "B": "no", "C": "maybe"}


@register("pubmedqa_json")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    records = json.loads((root / bench.path).read_text())
    wanted = json.loads((root / bench.options["test_ids"]).read_text()) if "test_ids" in bench.options else records
    for pmid in wanted:
        record = records[pmid]
        decision = record["final_decision"]
        letter = next(k for k, v in CHOICES.items() if v == decision)
        yield EvalItem(id=str(pmid), question=record["QUESTION"], answer=letter, options=dict(CHOICES),
                       context="\n".join(record["CONTEXTS"]), fields={"answer": decision})
