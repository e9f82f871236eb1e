"""Multiple-choice questions from the curated tables, in one shape for the OCR and chain-of-thought generators.

Curated MCQ rows keep the question, its options and the gold answer in `meta` (the answer as option text
or as a letter, options as a list or a letter map); this turns each into lettered options and a gold
letter, or says why it cannot (counted as a rejection, never skipped silently).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path


from lingshu.data.schema import read_table, table_files
from lingshu.synth.ledger import Ledger
from lingshu.synth.workspace import Workspace

# the letter must be a capital (as in lingshu.eval.extract), so "the answer is a clear no" is not A
_FINAL_LETTER = re.compile(r"(?i:answer)\s*(?i:is)?\s*[:：]?\s*\(?\**([A-Z])\b")


@dataclass
class McqItem:
    id: str
    source: str
    licence: str
    provenance_file: str
    question: str
    options: dict[str, str]
    gold: str                # letter
    context: str = ""

    def gold_text(self) -> str:
        return f"{self.gold}. {self.options[self.gold]}"

    def options_text(self) -> str:
        return "\n".join(f"{letter}. {text}" for letter, text in self.options.items())


class NotMcq(ValueError):
    """A row that is not a usable multiple-choice question; the message is the rejection reason."""


def _context(user_turn: str) -> str:
    """The text between "Context: " and "\\nQuestion:" of a curated MCQ prompt (PubMedQA's abstract)."""
    match = re.search(r"Context:\s*(.*?)\nQuestion:", user_turn, re.DOTALL)
    return match.group(1).strip() if match else ""


def to_item(row: dict) -> McqItem:
    meta = json.loads(row["meta"]) if isinstance(row.get("meta"), str) else (row.get("meta") or {})
    question, options, answer = meta.get("question"), meta.get("options"), str(meta.get("answer", "")).strip()
    if not question or not options or not answer:
        raise NotMcq("missing_question_options_or_answer")
    if isinstance(options, list):
        options = dict(zip(string.ascii_uppercase, map(str, options)))
    options = {str(k).upper(): str(v) for k, v in options.items()}
    if answer.upper() in options:
        gold = answer.upper()
    else:
        gold = next((k for k, v in options.items() if v.strip().lower() == answer.lower()), "")
    if not gold:
        raise NotMcq("gold_not_among_options")
    user = next((t["content"] for t in row["conversations"] if t["role"] == "user"), "")
    return McqItem(row["id"], row["source"], row["licence"], (row["provenance"] or {}).get("file", ""),
                   question, options, gold, _context(user))


def read_mcq_rows(input_dir: Path, sources: list[str]) -> list[dict]:
    """Train-split MCQ rows of the given sources from every curated table, in id order."""
    rows = []
    for paths in table_files(input_dir).values():
        rows += [r for r in read_table(paths).to_pylist()
                 if r["split"] == "train" and r["task"] == "mcq" and r["source"] in sources]
    return sorted(rows, key=lambda r: r["id"])


def final_letter(text: str) -> str | None:
    """The letter after the last "Answer:" in a reasoning text, or None."""
    matches = _FINAL_LETTER.findall(text or "")
    return matches[-1].upper() if matches else None


def subset(rows: list, limit: int, rng) -> list:
    """A seeded choice of at most `limit` items (all of them when limit is 0), in their original order."""
    if not limit or limit >= len(rows):
        return rows
    keep = set(rng.sample(range(len(rows)), limit))
    return [row for i, row in enumerate(rows) if i in keep]


def mcq_items(ws: Workspace, sources: list[str], limit: int, generator: str, ledger: Ledger) -> list[McqItem]:
    """Usable multiple-choice items; rows that are not (no options, gold not an option) are rejections."""
    items = []
    for row in subset(read_mcq_rows(ws.repo / ws.cfg.input_dir, sources), limit, ws.rng(generator)):
        try:
            items.append(to_item(row))
        except NotMcq as reason:
            ledger.attempt()
            ledger.reject(f"{generator}:{row['id']}", "read", str(reason), "", [row["id"]], (row["provenance"] or {}).get("file", ""))
    return items
