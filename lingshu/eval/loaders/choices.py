"""How multiple-choice records spell their options and their answer, in every layout the benchmarks come in.

Options come as a dict letter -> text (MedQA, MedXpertQA on the hub), a list of {letter, content}
(MedXpertQA's GitHub copy), a list of texts (SuperGPQA's `options`, MMLU's `choices`, MMMU's options as a
Python-literal string), one column per option (`opa`..`ope`: MedMCQA, Medbullets) or inline after
"Answer Choices:" in the question (MedXpertQA's copies of MedQA, MedMCQA and MMLU); an inline list is
cut from the question because the prompt lists the options itself. The answer comes as a letter
(`answer_idx`, `label`, `answer_letter`, or a one-letter list, also written as text: "['B']"), an option
index (`cop`, MMLU's integer `answer`; the layout says whether it counts from 0 or 1), or the option's text
(`answer`). A record that fits none of these is an error naming its place and the fields it has. Curation
reads multiple-choice training records (lingshu.data.sources.mcq_jsonl) with these same rules.
"""

from __future__ import annotations

import ast
import re
import string

from lingshu.eval.layouts import first_of, need

LETTERS = string.ascii_uppercase
_INLINE = re.compile(r"\n?Answer Choices:\s*(.*)$", re.DOTALL)
_CHOICE = re.compile(r"\(([A-Z])\)\s*(.*?)(?=\s*\([A-Z]\)\s|\Z)", re.DOTALL)
_LETTER_FIELDS = ("answer_idx", "label", "answer_letter")
_INDEX_FIELDS = ("cop", "answer")


def split_inline_options(question: str) -> tuple[str, dict[str, str]]:
    match = _INLINE.search(question)
    if not match:
        return question, {}
    return question[: match.start()].strip(), {k: v.strip() for k, v in _CHOICE.findall(match.group(1))}


def listed_options(value, where: str, name: str = "options") -> dict[str, str]:
    """Options given as one value: a dict, a list of texts or of {letter, content}, or such a list as a string."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        value = ast.literal_eval(value.strip())
    if isinstance(value, dict):
        return {str(k).strip().upper(): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, dict) for v in value):
            return {str(first_of(v, ("letter", "label", "key"), f"{where} {name}")).strip().upper():
                    str(first_of(v, ("content", "text", "value"), f"{where} {name}")) for v in value}
        return {LETTERS[i]: str(v) for i, v in enumerate(value)}
    raise ValueError(f"{where}: field {name!r} is a {type(value).__name__}; expected a dict letter -> text or a list")


def question_and_options(record: dict, where: str, required: bool = True) -> tuple[str, dict[str, str]]:
    """The question (without an inline "Answer Choices:" list) and its options, letter -> text; a record with no
    options is an error, or, unless `required`, the question with no options."""
    question, inline = split_inline_options(str(need(record, "question", where)))
    for name in ("options", "choices"):
        if record.get(name) not in (None, "", [], {}):
            return question.strip(), listed_options(record[name], where, name)
    columns = {LETTERS[i]: str(record[f"op{c}"]).strip() for i, c in enumerate("abcdefgh")
               if str(record.get(f"op{c}") or "").strip()}
    if columns or inline or not required:
        return question.strip(), columns or inline
    raise ValueError(f"{where}: no options: expected a field 'options' or 'choices', columns opa, opb, ..., or "
                     f"'Answer Choices: (A) ...' in the question (fields: {', '.join(sorted(record))})")


def answer_letter(record: dict, options: dict[str, str], where: str, index_base: int = 0) -> str:
    """The gold option's letter; `index_base` is what the first option's index is in `cop` / an integer `answer`."""
    for name in _LETTER_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value.strip().startswith("["):  # a list written as text: "['B']"
            try:
                value = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                raise ValueError(f"{where}: field {name!r} is {value!r}, not a letter or a list of one") from None
        if isinstance(value, (list, tuple)):
            value = value[0] if len(value) == 1 else f"{list(value)} (not one letter)"
        if value not in (None, ""):
            letter = str(value).strip().upper()
            if letter not in options:
                raise ValueError(f"{where}: field {name!r} is {value!r}, not one of the option letters {', '.join(options)}")
            return letter
    for name in _INDEX_FIELDS:
        value = record.get(name)
        integer = isinstance(value, int) and not isinstance(value, bool)
        if integer or (name == "cop" and str(value or "").strip().isdigit()):
            position = int(value) - index_base
            if not 0 <= position < len(options) or LETTERS[position] not in options:
                raise ValueError(f"{where}: field {name!r} is {value!r}, not an option index (counted from "
                                 f"{index_base}; {len(options)} options)")
            return LETTERS[position]
    text = str(record.get("answer") or "").strip()
    if text.upper() in options and len(text) == 1:
        return text.upper()
    match = [k for k, v in options.items() if v.strip() == text]
    if text and match:
        return match[0]
    raise ValueError(f"{where}: no usable answer: expected a letter in {', '.join(_LETTER_FIELDS)}, an option index in "
                     f"{', '.join(_INDEX_FIELDS)}, or the text of an option in 'answer' (fields: {', '.join(sorted(record))})")
