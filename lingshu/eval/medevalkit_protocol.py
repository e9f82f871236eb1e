"""How MedEvalKit asks and judges each benchmark: the `medevalkit:` section of a benchmark YAML.

MedEvalKit (alibaba-damo-academy/MedEvalKit, read at commit 9b12e3b) has one dataset class per benchmark,
and they differ where scores change: how options are written into the prompt and handed to the judge
("B. text", "B.text", a source's own cells, bare texts), whether the question keeps inline choices,
which prompt and which judge a VQA question gets, and in which language the prompt ends. This module
reads those differences from the benchmark's YAML, so generic code never branches on a benchmark's name,
and builds MedEvalKit's prompt strings (`prompt`) and judgments (`judge`) from them. The judges
themselves are in `lingshu.eval.medevalkit` (and `lingshu.eval.medevalkit_mmmu` for MMMU's parser).
tests/fixtures/medevalkit/judgments.jsonl holds MedEvalKit's own prompts and judgments, which the tests
hold this module to.

Keys (all optional; the defaults are MedEvalKit's most common behaviour):
- `choices`: each option as MedEvalKit writes it in the prompt and gives it to its judge: a format with
  {letter} and {text} (default "{letter}. {text}"), or `verbatim` for the source's own cells (the item's
  `verbatim["choices"]`, PMC-VQA's "A:CT").
- `judge_choices`: the option strings its judge gets, where they differ from the prompt's (MMLU: "{text}").
- `question`: `verbatim` asks the question as published (the item's `verbatim["question"]`, MedXpertQA's
  with its inline "Answer Choices"); default: the loader's question.
- `template`: the multiple-choice prompt, with {question}, {options} (one line per option) and
  {context}; default `prompts.MCQ`, preceded by "Context: {context}" where an item has a context.
- `answer_tag_first`: multiple choice: take the `<answer>` contents before judging (default true).
- `mcq_judge`: `multiple_choice` (MedEvalKit's judge, default) or `mmmu` (the MMMU authors' parser).
- `prompt_rules` / `judge_rules`: VQA: which prompt and which judge a question gets, as a list of rules
  "KIND if CONDITION" or "KIND" (the first that holds wins; the last must be unconditional). KIND is
  yes_no, closed or open; CONDITION one of `CONDITIONS`. judge_rules default to prompt_rules, and those to
  the yes/no prompt for a yes/no gold answer, else closed or open by answer_type.
- `strip_response`: VQA: lowercase and strip the response before judging (VQA-RAD, PathVQA).
- `language`: the VQA prompt suffixes, `en` (default) or `zh` (SLAKE's Chinese questions).
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from typing import Any, Callable

from lingshu.eval import medevalkit, medevalkit_mmmu, prompts
from lingshu.eval.extract import UNPARSED

KINDS = ("yes_no", "closed", "open")
CONDITIONS: dict[str, Callable[[str, str | None], bool]] = {
    "gold_yes_no": lambda gold, answer_type: gold in ("yes", "no"),  # exactly, case-sensitive
    "gold_yes_no_any_case": lambda gold, answer_type: gold.strip().lower() in ("yes", "no"),
    "closed_question": lambda gold, answer_type: str(answer_type or "").upper() == "CLOSED",
    "open_question": lambda gold, answer_type: str(answer_type or "").upper() == "OPEN",
}
SUFFIXES = {
    "en": {"yes_no": prompts.YES_NO, "closed": prompts.CLOSED, "open": prompts.OPEN},
    "zh": {"yes_no": "{question}\n请输出'是'或'否'(不要有任何其它输出)。",
           "closed": "{question}\n请用一个单词或者短语回答该问题。",
           "open": "{question}\n请简要回答该问题。"},
}
VERBATIM = "verbatim"
MCQ_JUDGES = ("multiple_choice", "mmmu")


@dataclass(frozen=True)
class Settings:
    """A benchmark's `medevalkit:` section, checked (see the module docstring for each key)."""

    choices: str = "{letter}. {text}"
    judge_choices: str | None = None
    question: str | None = None
    template: str | None = None
    answer_tag_first: bool = True
    mcq_judge: str = "multiple_choice"
    prompt_rules: tuple[str, ...] = ("yes_no if gold_yes_no_any_case", "closed if closed_question", "open")
    judge_rules: tuple[str, ...] | None = None
    strip_response: bool = False
    language: str = "en"
    source: str = ""  # the YAML these came from, for error messages

    @classmethod
    def parse(cls, raw: dict, source: str = "") -> "Settings":
        """Settings from a YAML section; every problem names the file and the key."""
        where = f"{source or 'benchmark YAML'}: medevalkit"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"source"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
        values = dict(raw)
        for key in ("prompt_rules", "judge_rules"):
            if key in values:
                values[key] = tuple(_check_rules(values[key], f"{where}.{key}"))
        for key in ("choices", "judge_choices"):
            if key in values and values[key] != VERBATIM:
                _check_format(values[key], ("letter", "text"), f"{where}.{key}")
        if "template" in values:
            _check_format(values["template"], ("question", "options", "context"), f"{where}.template")
        for key, allowed in (("question", (VERBATIM,)), ("mcq_judge", MCQ_JUDGES), ("language", tuple(SUFFIXES))):
            if key in values and values[key] not in allowed:
                raise ValueError(f"{where}.{key}: {values[key]!r} is not one of {list(allowed)}")
        for key in ("answer_tag_first", "strip_response"):
            if key in values and not isinstance(values[key], bool):
                raise ValueError(f"{where}.{key}: expected true or false, got {values[key]!r}")
        return cls(**values, source=source)


def _check_format(value: Any, names: tuple[str, ...], where: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    if used - set(names):
        raise ValueError(f"{where}: {value!r} uses {sorted(used - set(names))}; it may use {list(names)}")


def _check_rules(rules: Any, where: str) -> list[str]:
    if not isinstance(rules, list) or not rules:
        raise ValueError(f"{where}: expected a non-empty list of rules, got {rules!r}")
    for i, rule in enumerate(rules):
        kind, _, condition = str(rule).partition(" if ")
        if kind.strip() not in KINDS or (condition and condition.strip() not in CONDITIONS):
            raise ValueError(f"{where}[{i}]: {rule!r} is not 'KIND' or 'KIND if CONDITION' "
                             f"(KIND: {list(KINDS)}; CONDITION: {list(CONDITIONS)})")
        if i == len(rules) - 1 and condition:
            raise ValueError(f"{where}[{i}]: the last rule must have no condition, so every question gets one")
    return [str(rule) for rule in rules]


def kind_by_rules(rules: tuple[str, ...], gold: str, answer_type: str | None) -> str:
    """The KIND of the first rule whose condition holds for this gold answer and answer_type."""
    for rule in rules:
        kind, _, condition = rule.partition(" if ")
        if not condition or CONDITIONS[condition.strip()](gold, answer_type):
            return kind.strip()
    raise AssertionError("unreachable: the last rule is unconditional")


def _verbatim(settings: Settings, verbatim: dict | None, key: str, item_id: str) -> Any:
    if not verbatim or key not in verbatim:
        raise ValueError(f"{settings.source}: medevalkit asks for the verbatim {key}, but item {item_id!r} has none "
                         f"(its loader keeps no verbatim {key!r}; predictions written before it did need regenerating)")
    return verbatim[key]


def option_strings(settings: Settings, fmt: str, options: dict[str, str], verbatim: dict | None,
                   item_id: str) -> list[str]:
    """Each option as MedEvalKit writes it, in order."""
    if fmt == VERBATIM:
        cells = _verbatim(settings, verbatim, "choices", item_id)
        return [str(cells[letter]) for letter in options]
    return [fmt.format(letter=letter, text=text) for letter, text in options.items()]


def prompt(settings: Settings, item, multiple_choice: bool) -> tuple[str, str]:
    """(kind, text) of MedEvalKit's prompt for an EvalItem: "mcq", or the VQA kind its prompt rules give."""
    question = (_verbatim(settings, item.verbatim, "question", item.id) if settings.question == VERBATIM
                else item.question)
    if multiple_choice:
        lines = option_strings(settings, settings.choices, item.options, item.verbatim, item.id)
        text = (settings.template or prompts.MCQ).format(question=question, options="\n".join(lines),
                                                           context=item.context or "")
        if item.context and settings.template is None:
            text = f"Context: {item.context}{text}"
        return "mcq", text
    kind = kind_by_rules(settings.prompt_rules, item.answer, item.answer_type)
    return kind, SUFFIXES[settings.language][kind].format(question=question)


def judge(settings: Settings, record: dict) -> dict:
    """{extracted, correct, parsed} of a prediction record, judged as MedEvalKit judges its benchmark."""
    response, gold = record.get("response") or "", str(record["answer"])
    if record["kind"] == "mcq":
        options = record.get("options") or {}
        if settings.mcq_judge == "mmmu":
            score, letter = medevalkit_mmmu.judge(response, gold, options)
            return {"extracted": letter or UNPARSED, "correct": score, "parsed": letter is not None}
        choices = option_strings(settings, settings.judge_choices or settings.choices, options,
                                 record.get("verbatim"), str(record.get("id", "?")))
        text = medevalkit.within_answer_tags(response) if settings.answer_tag_first else response
        correct, extracted = medevalkit.judge_multiple_choice(text, gold, choices)
        return {"extracted": extracted, "correct": bool(correct), "parsed": True}
    # records written before they carried answer_type have it among their breakdown fields
    answer_type = record["answer_type"] if "answer_type" in record else (record.get("fields") or {}).get("answer_type")
    kind = kind_by_rules(settings.judge_rules or settings.prompt_rules, gold, answer_type)
    text = medevalkit.vqa_response(response)
    if settings.strip_response:
        text, gold = text.lower().strip(), gold.lower().strip()
    rule = {"yes_no": medevalkit.judge_yes_no, "closed": medevalkit.judge_closed, "open": medevalkit.judge_open}[kind]
    correct, extracted = rule(text, gold)
    return {"extracted": extracted, "correct": bool(correct), "parsed": True}


def settings_of(bench) -> Settings:
    """A Benchmark's settings (its YAML was checked when it was read)."""
    return Settings.parse(bench.medevalkit, bench.source_file)
