"""The RL prompts: verifiable samples from the curated and synthetic tables, mixed as the recipe says.

A sample is verifiable when its gold answer can be checked mechanically: a multiple-choice letter, a
yes/no, or a short answer (at most `max_answer_words` words). Captions, reports and long answers are
not. Prompts use the evaluation's instruction wording (lingshu.eval.prompts), so the rewards measure
what the benchmarks do, with the images laid out as the evaluation's prompts lay them out. Then, in order:
1. multiple-choice questions whose correct option is short are asked open-ended (`rewrite_mcq_open`);
2. prompts longer than `max_prompt_length` tokens are dropped (cutting would cut the question or an image);
3. yes/no questions (answer space yes/no(/maybe)) are down-sampled to `yes_no_share` of the whole;
4. every cell of the `balance_by` fields (modality x format) is capped at `balance_ratio` x the median cell;
5. at most `max_samples` are kept.
Inputs are the train-split rows of the chosen groups, read from the memory-mapped tables a block at a
time (lingshu.train.tables, as training reads them); each one is either kept or rejected with the step's
reason, and the counts are checked to add up.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Sequence

from lingshu.data.schema import IMAGE_TOKEN, user_content
from lingshu.eval.extract import normalise
from lingshu.eval.prompts import multiple_choice, vqa
from lingshu.rl.config import SelectionConfig
from lingshu.synth.mcq import NotMcq, to_item
from lingshu.train.tables import Table, group_tables, rows_at, where

FORMATS = ("multiple_choice", "yes_no", "closed", "open")
YES_NO_SPACE = {"yes", "no", "maybe"}
_STEM = re.compile(r"Question:\s*(.*?)\nOptions:", re.DOTALL)


@dataclass
class VerifiablePrompt:
    """One RL prompt: the user turn (with <image> placeholders) and what its reply is checked against."""

    id: str
    source: str
    group: str
    modality: str
    format: str                 # one of FORMATS: what the mixture balances
    kind: str                   # the scorer's kind: mcq, yes_no, closed, open
    prompt: str
    answer: str                 # option letter for mcq, else the short answer
    images: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    rewritten: bool = False


class NotVerifiable(ValueError):
    """The message is the rejection reason."""


@dataclass
class Selection:
    prompts: list[VerifiablePrompt]
    inputs: int
    rejected: Counter

    def composition(self) -> list[dict]:
        """Kept prompts per (source, modality, format), for the plot and the logs."""
        counts = Counter((p.source, p.modality, p.format) for p in self.prompts)
        return [{"source": s, "modality": m, "format": f, "samples": n} for (s, m, f), n in sorted(counts.items())]

    def metrics(self) -> dict[str, float]:
        out = {"selection/inputs": float(self.inputs), "selection/kept": float(len(self.prompts))}
        out |= {f"selection/rejected/{reason}": float(n) for reason, n in sorted(self.rejected.items())}
        for name, key in (("format", "format"), ("modality", "modality"), ("source", "source")):
            for value, n in sorted(Counter(getattr(p, key) for p in self.prompts).items()):
                out[f"selection/{name}/{value}"] = float(n)
        out["selection/rewritten"] = float(sum(p.rewritten for p in self.prompts))
        return out


def _short(answer: str, cfg: SelectionConfig) -> bool:
    return 0 < len(normalise(answer).split()) <= cfg.max_answer_words


def _choice(base: dict, question: str, options: dict[str, str], gold: str, context: str, n_images: int,
            cfg: SelectionConfig, rewritable: bool = True) -> VerifiablePrompt:
    """A multiple-choice item, asked open-ended when the params say so and its correct option is short."""
    space = "yes_no" if {normalise(o) for o in options.values()} <= YES_NO_SPACE else None
    if rewritable and cfg.rewrite_mcq_open and _short(options[gold], cfg):
        text = (f"Context: {context}\n" if context else "") + vqa(question, "closed")
        return VerifiablePrompt(**base, format=space or "closed", kind="closed", prompt=user_content(text, n_images),
                                answer=options[gold], rewritten=True)
    text = multiple_choice(question, options, context or None)
    return VerifiablePrompt(**base, format=space or "multiple_choice", kind="mcq", prompt=user_content(text, n_images),
                            answer=gold, options=options)


def verifiable(row: dict, cfg: SelectionConfig, sources: dict[str, dict]) -> VerifiablePrompt:
    """The RL prompt of one table row; raises NotVerifiable with the reason when it has none.

    `sources` maps curated row ids to rows, for synthetic OCR pages whose options live in their source.
    """
    turns = row["conversations"]
    if len(turns) != 2 or [t["role"] for t in turns] != ["user", "assistant"]:
        raise NotVerifiable("not_single_turn")
    if row["task"] in ("caption", "report"):
        raise NotVerifiable("free_text_answer")
    meta, n_images = row["meta"], len(row["images"])
    gold = str(turns[1]["content"]).strip()
    base = dict(id=row["id"], source=row["source"], group=row["group"], modality=row.get("modality") or "text",
                images=list(row["images"]))
    steps = meta.get("steps") or {}
    if row["task"] == "mcq":
        if "options" in steps:  # synthetic: template or self-instruct choice question
            options = {str(k): str(v) for k, v in steps["options"].items()}
            stem = steps.get("question") or (_STEM.search(meta.get("question", "")) or [None, ""])[1]
            if gold not in options or not stem:
                raise NotVerifiable("options_unreadable")
            return _choice(base, stem.strip(), options, gold, "", n_images, cfg)
        if "gold" in steps:  # synthetic OCR page: the options are in the image, their letters in the source row
            source = sources.get((meta.get("source_ids") or [""])[0])
            if source is None:
                raise NotVerifiable("source_row_missing")
            try:
                item = to_item(source)
            except NotMcq as reason:
                raise NotVerifiable(str(reason)) from None
            if str(steps["gold"]) not in item.options:
                raise NotVerifiable("options_unreadable")
            return VerifiablePrompt(**base, format="multiple_choice", kind="mcq", prompt=turns[0]["content"],
                                    answer=str(steps["gold"]), options=item.options)
        try:
            item = to_item(row)
        except NotMcq as reason:
            raise NotVerifiable(str(reason)) from None
        return _choice(base, item.question, item.options, item.gold, item.context, n_images, cfg)
    if not _short(gold, cfg):
        raise NotVerifiable("answer_not_short")
    yes_no = normalise(gold) in ("yes", "no")
    if "generator" in meta:  # synthetic prompts are already in the evaluation's wording
        kind = "yes_no" if steps.get("form") == "yes_no" or yes_no else "open"
        return VerifiablePrompt(**base, format=kind, kind=kind, prompt=turns[0]["content"], answer=gold)
    if row["task"] == "vqa":
        question = str(meta.get("question") or turns[0]["content"].replace(IMAGE_TOKEN, "")).strip()
        kind = "yes_no" if yes_no else ("closed" if str(meta.get("answer_type", "")).upper() == "CLOSED" else "open")
        return VerifiablePrompt(**base, format=kind, kind=kind, prompt=user_content(vqa(question, kind), n_images),
                                answer=gold)
    kind = "yes_no" if yes_no else "open"  # a one-turn instruction with a short answer
    return VerifiablePrompt(**base, format=kind, kind=kind, prompt=turns[0]["content"], answer=gold)


def _sample(items: list, k: int, rng: random.Random) -> tuple[list, list]:
    """(k seeded picks in their original order, the rest)."""
    if k >= len(items):
        return items, []
    keep = set(rng.sample(range(len(items)), k))
    return [x for i, x in enumerate(items) if i in keep], [x for i, x in enumerate(items) if i not in keep]


def _sources(tables: list[Table]) -> dict[str, dict]:
    """The curated train-split MCQ rows that synthetic MCQ rows name as their source, by id: an OCR page's
    options are only in its source row. Only those rows are read into memory."""
    wanted: set[str] = set()
    for table in tables:
        for row in rows_at(table, where(table, split="train", tasks=["mcq"])):
            if "generator" in row["meta"]:
                wanted.add((row["meta"].get("source_ids") or [""])[0])
    sources = {}
    for table in tables:
        for row in rows_at(table, where(table, split="train", tasks=["mcq"], ids=wanted)):
            if "generator" not in row["meta"]:
                sources[row["id"]] = row
    return sources


def select_prompts(table_dirs: list[Path], cfg: SelectionConfig, cache_dir: Path,
                   prompt_lengths: Callable[[list[VerifiablePrompt]], Sequence[int]] | None = None) -> Selection:
    """The RL prompts from the train split of `cfg.groups` in the given table folders; `prompt_lengths` gives
    the token lengths of a list of prompts."""
    rng = random.Random(cfg.seed)
    inputs = [(t, where(t, split="train")) for g in cfg.groups for t in group_tables(table_dirs, g, cache_dir)]
    n_inputs = sum(len(positions) for _, positions in inputs)
    sources = _sources([table for table, _ in inputs])
    rejected: Counter = Counter()
    prompts: list[VerifiablePrompt] = []
    for table, positions in inputs:
        for row in rows_at(table, positions):
            try:
                prompts.append(verifiable(row, cfg, sources))
            except NotVerifiable as reason:
                rejected[str(reason)] += 1
    if prompt_lengths is not None:
        fits = [p for p, length in zip(prompts, prompt_lengths(prompts), strict=True) if length <= cfg.max_prompt_length]
        rejected["prompt_too_long"] += len(prompts) - len(fits)
        prompts = fits
    if cfg.yes_no_share < 1:
        yes_no = [p for p in prompts if p.format == "yes_no"]
        others = [p for p in prompts if p.format != "yes_no"]
        target = math.floor(cfg.yes_no_share / (1 - cfg.yes_no_share) * len(others)) if others else len(yes_no)
        kept, dropped = _sample(yes_no, target, rng)
        rejected["yes_no_downsampled"] += len(dropped)
        kept_ids = {id(p) for p in kept}
        prompts = [p for p in prompts if p.format != "yes_no" or id(p) in kept_ids]
    if cfg.balance_ratio > 0 and cfg.balance_by:
        unknown = sorted(set(cfg.balance_by) - {f.name for f in fields(VerifiablePrompt)}) if prompts else []
        if unknown:
            raise ValueError(f"rl.selection.balance_by: unknown field(s) {unknown}")
        cells: dict[tuple, list] = {}
        for p in prompts:
            cells.setdefault(tuple(getattr(p, f) for f in cfg.balance_by), []).append(p)
        cap = math.ceil(cfg.balance_ratio * statistics.median(len(c) for c in cells.values())) if cells else 0
        kept_ids = set()
        for cell in cells.values():
            kept, dropped = _sample(cell, cap, rng)
            kept_ids |= {id(p) for p in kept}
            rejected["balance_cap"] += len(dropped)
        prompts = [p for p in prompts if id(p) in kept_ids]
    if cfg.max_samples and len(prompts) > cfg.max_samples:
        prompts, dropped = _sample(prompts, cfg.max_samples, rng)
        rejected["max_samples"] += len(dropped)
    rejected = Counter({k: v for k, v in rejected.items() if v})
    if len(prompts) + sum(rejected.values()) != n_inputs:
        raise RuntimeError(f"rl selection lost records: {n_inputs} in, {len(prompts)} kept, {sum(rejected.values())} rejected")
    return Selection(prompts, n_inputs, rejected)
