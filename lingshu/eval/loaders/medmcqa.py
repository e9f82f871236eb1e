"""MedMCQA's validation split (4183 questions) in its three layouts.

- `medxpertqa_repo`: MedXpertQA's copy (eval/data/medmcqa, the file shipped under data/benchmarks): id,
  question ending in "Answer Choices: (A) ...", label (a one-letter list), subject_name, topic_name.
- `published`: the authors' `dev.json`, JSON lines with id, question, opa..opd, cop (the correct option
  counted from 1), choice_type, exp, subject_name, topic_name.
- `hf`: `openlifescienceai/medmcqa`, the dataset MedEvalKit loads: the same columns but `cop` counted from 0
  (a ClassLabel a..d). Parquet/arrow shards are recognised as it; a JSON export of it needs `format: hf`.
The ids are the authors' question ids in every layout, so a `--limit` sample is the same in each.
"""

from __future__ import annotations

from lingshu.eval.benchmark import register
from lingshu.eval.layouts import Layout
from lingshu.eval.loaders.mcq import mcq_reader
from lingshu.eval.tables import TEXT_KINDS

register("medmcqa", [
    Layout("medxpertqa_repo", "MedXpertQA's JSON lines: id, question with inline Answer Choices, label",
           mcq_reader(), fields=("id", "question", "label"), kinds=TEXT_KINDS),
    Layout("published", "the authors' dev.json (JSON lines): id, question, opa..opd, cop counted from 1",
           mcq_reader(index_base=1), fields=("id", "question", "opa", "cop"), kinds=TEXT_KINDS),
    Layout("hf", "openlifescienceai/medmcqa (parquet/arrow shards or save_to_disk): id, question, opa..opd, cop from 0",
           mcq_reader(index_base=0), fields=("id", "question", "opa", "cop")),
])
