"""Multiple-choice records, one per row (MedQA; the building block of the MedMCQA, MMLU, Medbullets,
SuperGPQA and MedXpertQA loaders).

MedQA's layouts: `published` is the authors' JSON lines (`US/4_options/phrases_no_exclude_test.jsonl`:
question, answer, options {A..D}, meta_info, answer_idx, metamap_phrases), which MedAgentsBench's copy
(the same fields plus `realidx`) and MedXpertQA's copy (id, question with inline "Answer Choices", label)
also fit; `hf` is `GBaker/MedQA-USMLE-4-options`, the dataset MedEvalKit loads, as parquet/arrow shards or
a save_to_disk folder. An item's id is its `id`, else `realidx`, else its 0-based row (the numbering
`realidx` uses). Every other top-level text or integer field is kept for breakdowns (meta_info, subject_name, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.layouts import Layout
from lingshu.eval.loaders.choices import answer_letter, question_and_options
from lingshu.eval.tables import HF_KINDS, TEXT_KINDS, Row, open_table

ANSWER_FIELDS = "answer_idx|label|answer_letter|cop|answer"
_NOT_FIELDS = {"question", "answer", "answer_idx", "answer_letter", "label", "cop", "id", "realidx",
               *(f"op{c}" for c in "abcdefgh")}  # what the item itself holds


def mcq_item(row: Row, item_id: str, index_base: int = 0, fields: dict | None = None) -> EvalItem:
    """The row as a question with options and the gold letter; `fields` (default: the record's other scalar
    fields) are what results break down by."""
    question, options = question_and_options(row.record, row.where)
    if fields is None:
        fields = {k: v for k, v in row.record.items() if isinstance(v, (str, int)) and k not in _NOT_FIELDS}
    return EvalItem(id=item_id, question=question, answer=answer_letter(row.record, options, row.where, index_base),
                    options=options, fields=fields)


def record_id(row: Row) -> str:
    """`id`, else `realidx`, else the 0-based row."""
    value = next((row.record[k] for k in ("id", "realidx") if row.record.get(k) not in (None, "")), row.index)
    return str(value)


def mcq_reader(index_base: int = 0) -> Callable[[Benchmark, Path, Path], Iterator[EvalItem]]:
    """A layout's `read` for one multiple-choice record per row, option indexes counted from `index_base`."""
    def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
        for row in open_table(path, bench.split).rows():
            yield mcq_item(row, record_id(row), index_base)
    return read


register("mcq", [
    Layout("published", "JSON lines, JSON or CSV records: question, options (or inline Answer Choices), answer_idx/label",
           mcq_reader(), fields=("question", ANSWER_FIELDS), kinds=TEXT_KINDS),
    Layout("hf", "a Hugging Face dataset (parquet/arrow shards or save_to_disk): question, options, answer_idx",
           mcq_reader(), fields=("question", ANSWER_FIELDS), kinds=HF_KINDS),
])
