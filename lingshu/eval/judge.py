"""Optional LLM judge for open-ended answers, through any OpenAI-compatible endpoint, cached per sample.

Exact match undercounts open answers ("posteroanterior" vs "PA"). With a judge, each open answer that
exact match marks wrong is shown to a judge model with the question and the reference, which must
reply `correct` or `incorrect`. Verdicts are cached in a JSONL file keyed by (judge model, prompt), so
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
_VERDICT = re.compile(r"^\W*(correct|incorrect)\W*$", re.IGNORECASE)


class LLMJudge:
    def __init__(self, backend, model_name: str, cache: Path):
        self.backend, self.model_name, self.cache = backend, model_name, cache
        self.verdicts: dict[str, bool] = {}
        if cache.exists():
            for line in cache.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a kill
                self.verdicts[entry["key"]] = entry["correct"]
        self.asked = self.errors = 0

    def _key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.model_name}\n{prompt}".encode()).hexdigest()

    def judge(self, records: list[dict]) -> list[bool | None]:
        """A verdict per record (question in record['question'] or its prompt); None marks a judge error."""
        prompts = [PROMPT.format(question=r.get("question") or r.get("prompt", ""), reference=r["answer"],
                                 response=(r.get("response") or "").strip()) for r in records]
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
        out: list[bool | None] = []
        new = []
        for i, key in enumerate(keys):
            if key in self.verdicts:
                out.append(self.verdicts[key])
                continue
            match = _VERDICT.match(replies.get(i) or "")
            if match is None:
                self.errors += 1
                out.append(None)
                continue
            verdict = match.group(1).lower() == "correct"
            self.verdicts[key] = verdict
            new.append({"key": key, "correct": verdict})
            out.append(verdict)
        if new:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(e) + "\n" for e in new))
        return out
