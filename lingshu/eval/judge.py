"""Optional LLM judge, through any OpenAI-compatible endpoint, cached per sample.

Two uses, both only where rules fail:
- open answers that exact match marks wrong ("posteroanterior" vs "PA") are shown to the judge with
  the question and the reference, which must reply `correct` or `incorrect`;
- multiple-choice answers the cascade could not parse (neither a letter nor one option's text) are
  shown with the options, and the judge must reply with the one letter the answer chose, or `none`
  (the cascade's third step: letter -> option text -> judge -> UNPARSED). Verdicts are cached in a JSONL file keyed by (judge model, prompt), so
a rerun or a rescore asks nothing twice. A judge that fails or replies anything else is a judge error:
the sample keeps its exact-match score and the errors are counted and reported, never silently scored.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from lingshu.eval.backends import Request

PROMPT = ("You are grading an answer to a medical question.\nQuestion: {question}\nReference answer: {reference}\n"
          "Model answer: {response}\nIs the model answer correct (same meaning as the reference)? "
          "Reply with exactly one word: correct or incorrect.")
CHOICE_PROMPT = ("Which option does this answer choose?\nOptions:\n{options}\nAnswer: {response}\n"
                 "Reply with exactly the option's letter, or none if it chooses no single option.")
_VERDICT = re.compile(r"^\W*(correct|incorrect)\W*$", re.IGNORECASE)
_CHOICE = re.compile(r"^\W*([A-Z]|none)\W*$", re.IGNORECASE)


class LLMJudge:
    def __init__(self, backend, model_name: str, cache: Path):
        self.backend, self.model_name, self.cache = backend, model_name, cache
        self.verdicts: dict[str, str] = {}
        if cache.exists():
            for line in cache.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a kill
                self.verdicts[entry["key"]] = entry["reply"]
        self.asked = self.errors = 0

    def _key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.model_name}\n{prompt}".encode()).hexdigest()

    def judge(self, records: list[dict]) -> list[bool | None]:
        """A verdict per open-answer record; None marks a judge error."""
        prompts = [PROMPT.format(question=r.get("question") or r.get("prompt", ""), reference=r["answer"],
                                 response=(r.get("response") or "").strip()) for r in records]
        return [None if v is None else v == "correct" for v in self._ask(prompts, _VERDICT)]

    def choose(self, records: list[dict]) -> list[str | None]:
        """The option letter each unparsed multiple-choice answer chose ('none' if it chose none); None on error."""
        prompts = []
        for r in records:
            options = "\n".join(f"{k}. {v}" for k, v in (r.get("options") or {}).items())
            prompts.append(CHOICE_PROMPT.format(options=options, response=(r.get("response") or "").strip()))
        picks = self._ask(prompts, _CHOICE)
        return [p if p is None or p == "none" or p.upper() in (r.get("options") or {}) else None
                for p, r in zip(picks, records)]

    def _ask(self, prompts: list[str], answer: re.Pattern) -> list[str | None]:
        """Cached replies matching `answer` (lower-cased group 1, letters upper-cased); None for errors."""
        keys = [self._key(p) for p in prompts]
        todo = [i for i, k in enumerate(keys) if k not in self.verdicts]
        replies: dict[int, str | None] = {}
        if todo:
            self.asked += len(todo)
            try:
                answers = self.backend.generate([Request([{"type": "text", "text": prompts[i]}]) for i in todo])
            except Exception as exc:  # noqa: BLE001 - any transport failure is a judge error, reported below
                answers = [None] * len(todo)
                self.last_error = f"{type(exc).__name__}: {exc}"
            replies = dict(zip(todo, answers))
        out: list[str | None] = []
        new = []
        for i, key in enumerate(keys):
            if key in self.verdicts:
                out.append(self.verdicts[key])
                continue
            match = answer.match(replies.get(i) or "")
            if match is None:
                self.errors += 1
                out.append(None)
                continue
            reply = match.group(1)
            reply = reply.upper() if len(reply) == 1 else reply.lower()
            self.verdicts[key] = reply
            new.append({"key": key, "reply": reply})
            out.append(reply)
        if new:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(e) + "\n" for e in new))
        return out
