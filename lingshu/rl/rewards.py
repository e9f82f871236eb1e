"""Verifiable rewards with TRL's signature: `(prompts, completions, **columns) -> list[float | None]`.

Columns are the prompt's fields repeated per completion (`kind`, `answer`, `options`). A completion is
a string, or TRL's conversational form (a list of messages, the last one the reply). None means the
reward does not apply to that completion; the weighted sum skips it, as TRL's nansum does.

- `accuracy`: 1 when the evaluation scorer (lingshu.eval.score, strict protocol) marks the reply
  correct, else 0; what RL optimises is what the benchmarks measure.
- `format`: strict: 1 only when the whole reply is exactly what the prompt's instruction asks for
  (a bare option letter, a bare yes/no, a short phrase, a concise one-line answer), optionally wrapped
  as <think>...</think><answer>...</answer> when `format_style` is think; anything else is 0.
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Callable

from lingshu.eval.extract import normalise
from lingshu.eval.score import score_record
from lingshu.rl.config import RewardConfig

RewardFunc = Callable[..., list[float | None]]
_THINK_ANSWER = re.compile(r"^<think>.*?</think>\s*<answer>(.*?)</answer>$", re.DOTALL)
_LETTER = re.compile(r"^([A-Z])\.?$")


def completion_text(completion) -> str:
    """The reply of a completion in either of TRL's forms."""
    if isinstance(completion, list):
        return str(completion[-1]["content"]) if completion else ""
    return str(completion)


def accuracy_reward(prompts, completions, kind, answer, options, **columns) -> list[float | None]:
    out: list[float | None] = []
    for completion, k, gold, opts in zip(completions, kind, answer, options):
        record = {"kind": k, "answer": gold, "options": opts or {}, "response": completion_text(completion)}
        out.append(float(score_record(record)["correct"]))
    return out


def answer_in_form(reply: str, kind: str, options: dict, cfg: RewardConfig) -> bool:
    """Whether a bare reply is exactly the form the prompt of this kind asks for."""
    reply = reply.strip()
    if not reply or "\n" in reply:
        return False
    if kind == "mcq":
        match = _LETTER.match(reply)
        return bool(match) and match.group(1) in (options or {})
    words = normalise(reply).split()
    if kind == "yes_no":
        return len(words) == 1 and words[0] in ("yes", "no") and len(reply.rstrip(".")) == len(words[0])
    limit = cfg.max_short_words if kind == "closed" else cfg.max_open_words
    return 0 < len(words) <= limit


def format_reward(prompts, completions, kind, options, cfg: RewardConfig | None = None, **columns) -> list[float | None]:
    cfg = cfg or RewardConfig()
    out: list[float | None] = []
    for completion, k, opts in zip(completions, kind, options):
        if k == "report":
            out.append(None)
            continue
        reply = completion_text(completion).strip()
        if cfg.format_style == "think":
            match = _THINK_ANSWER.match(reply)
            reply = match.group(1) if match else ""
        out.append(float(answer_in_form(reply, k, opts or {}, cfg)))
    return out


REWARDS: dict[str, Callable] = {"accuracy": accuracy_reward, "format": format_reward}


def reward_functions(names: list[str], cfg: RewardConfig) -> list[RewardFunc]:
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"rl.reward_funcs: unknown {unknown}; known: {sorted(REWARDS)}")
    return [partial(REWARDS[n], cfg=cfg) if n == "format" else REWARDS[n] for n in names]


def weighted_sum(per_func: list[list[float | None]], weights: list[float]) -> list[float]:
    """Total reward per completion: weights times rewards, None skipped (NaN when every function skipped)."""
    totals = []
    for values in zip(*per_func):
        given = [w * v for w, v in zip(weights, values) if v is not None]
        totals.append(sum(given) if given else math.nan)
    return totals
