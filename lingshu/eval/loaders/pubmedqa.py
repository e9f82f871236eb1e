"""PubMedQA PQA-L's 500 test questions, yes/no/maybe as A/B/C, the abstract's contexts before the question.

- `published`: the authors' `ori_pqal.json` ({PMID: {QUESTION, CONTEXTS, final_decision, ...}}) with their
  test-id list (`options.test_ids`, {PMID: decision}); ids are the PMIDs.
- `hf`: `openlifescienceai/pubmedqa`, the dataset MedEvalKit loads (split test), as parquet/arrow shards or
  a save_to_disk folder: a `data` struct with Question, Context (a list), Options {A, B, C} and Correct
  Option (the letter), read as MedEvalKit reads it; ids are the rows' `id` where there is one, else the row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout, need
from lingshu.eval.loaders.choices import listed_options
from lingshu.eval.tables import HF_KINDS, open_table

CHOICES = {"A": "yes", "B": "no", "C": "maybe"}


def recognise(bench: Benchmark, path: Path) -> str | None:
    if path.suffix.lower() != ".json" or not path.is_file():
        return "this layout is ori_pqal.json, a JSON file"
    records = json.loads(path.read_text(encoding="utf-8"))
    first = next(iter(records.values()), None) if isinstance(records, dict) else None
    if not isinstance(first, dict) or "QUESTION" not in first:
        return "expected {PMID: {QUESTION, CONTEXTS, final_decision, ...}}"
    return None


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    records = json.loads(path.read_text(encoding="utf-8"))
    wanted = json.loads((root / bench.options["test_ids"]).read_text()) if "test_ids" in bench.options else records
    for pmid in wanted:
        where = f"{path} PMID {pmid}"
        if pmid not in records:
            raise ValueError(f"{where}: listed in {bench.options['test_ids']} (options.test_ids) but not in {path}")
        record = records[pmid]
        decision = need(record, "final_decision", where)
        letter = next((k for k, v in CHOICES.items() if v == decision), None)
        if letter is None:
            raise ValueError(f"{where}: field 'final_decision' is {decision!r}, not one of {', '.join(CHOICES.values())}")
        yield EvalItem(id=str(pmid), question=need(record, "QUESTION", where), answer=letter, options=dict(CHOICES),
                       context="\n".join(need(record, "CONTEXTS", where)), fields={"answer": decision})


def read_hf(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    for row in open_table(path, bench.split).rows():
        data = need(row.record, "data", row.where)
        where = f"{row.where} data"
        options = listed_options(need(data, "Options", where), where, "Options")
        letter = str(need(data, "Correct Option", where)).strip().upper()
        if letter not in options:
            raise ValueError(f"{where}: field 'Correct Option' is {letter!r}, not one of {', '.join(options)}")
        context = need(data, "Context", where)
        yield EvalItem(id=str(row.record.get("id") or row.index), question=str(need(data, "Question", where)),
                       answer=letter, options=options, fields={"answer": options[letter]},
                       context="\n".join(context) if isinstance(context, list) else str(context))


register("pubmedqa", [
    Layout("published", "ori_pqal.json ({PMID: record}) + the test-id list options.test_ids", read, recognise=recognise),
    Layout("hf", "openlifescienceai/pubmedqa as parquet/arrow shards or save_to_disk: id, data {Question, Context, "
                 "Options, Correct Option}", read_hf, fields=("data",), kinds=HF_KINDS),
])
