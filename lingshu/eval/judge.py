"""Optional LLM judge, through any OpenAI-compatible endpoint, its verdicts kept in the predictions themselves.

Two uses, both only where rules fail:
- open answers that exact match marks wrong ("posteroanterior" vs "PA") are shown to the judge with
  the question and the reference, which must reply `correct` or `incorrect`;
- multiple-choice answers the cascade could not parse (neither a letter nor one option's text) are
  shown with the options, and the judge must reply with the one letter the answer chose, or `none`
  (the cascade's third step: letter -> option text -> judge -> UNPARSED).

The wording is versioned (`PROMPTS`, chosen by `eval.judge.prompt_version`), so that a reworded prompt
never reuses verdicts given to the old one. A verdict is cached per (judge model, prompt version, item,
response): in the prediction record it judged, under `judge_verdicts["<model>@v<version>"]`, with the
hash of the prompt asked (the item's question or options, its reference and the response), so a rerun or a
rescore asks nothing twice and a regenerated response is asked again. A judge that fails or replies
anything else is a judge error: the sample keeps its rule-based score and the errors are counted and
reported, never silently scored.
"""

from __future__ import annotations

import hashlib
import re

from lingshu.eval.backends import Request

PROMPTS = {  # version -> the open-answer prompt and the multiple-choice one
    1: ("You are grading an answer to a medical question.\nQuestion: {question}\nReference answer: {reference}\n"
        "Model answer: {response}\nIs the model answer correct (same meaning as the reference)? "
        "Reply with exactly one word: correct or incorrect.",
        "Which option does this answer choose?\nOptions:\n{options}\nAnswer: {response}\n"
        "Reply with exactly the option's letter, or none if it chooses no single option."),
}
_VERDICT = re.compile(r"^\W*(correct|incorrect)\W*$", re.IGNORECASE)
_CHOICE = re.compile(r"^\W*([A-Z]|none)\W*$", re.IGNORECASE)
VERDICTS = "judge_verdicts"  # the prediction record's field


class LLMJudge:
    def __init__(self, backend, model_name: str, prompt_version: int = 1):
        if prompt_version not in PROMPTS:
            raise ValueError(f"eval.judge.prompt_version is {prompt_version}; lingshu/eval/judge.py has versions "
                             f"{', '.join(map(str, PROMPTS))}")
        self.backend, self.model_name, self.prompt_version = backend, model_name, prompt_version
        self.name = f"{model_name}@v{prompt_version}"  # what its verdicts are filed under in a record
        self.open_prompt, self.choice_prompt = PROMPTS[prompt_version]
        self.asked = self.errors = 0

    def judge(self, records: list[dict]) -> list[bool | None]:
        """A verdict per open-answer record; None marks a judge error."""
        prompts = [self.open_prompt.format(question=r.get("question") or r.get("prompt", ""), reference=r["answer"],
                                           response=(r.get("response") or "").strip()) for r in records]
        return [None if v is None else v == "correct" for v in self._ask(records, prompts, _VERDICT)]

    def choose(self, records: list[dict]) -> list[str | None]:
        """The option letter each unparsed multiple-choice answer chose ('none' if it chose none); None on error."""
        prompts = []
        for r in records:
            options = "\n".join(f"{k}. {v}" for k, v in (r.get("options") or {}).items())
            prompts.append(self.choice_prompt.format(options=options, response=(r.get("response") or "").strip()))
        picks = self._ask(records, prompts, _CHOICE)
        return [p if p is None or p == "none" or p.upper() in (r.get("options") or {}) else None
                for p, r in zip(picks, records)]

    def _ask(self, records: list[dict], prompts: list[str], answer: re.Pattern) -> list[str | None]:
        """Replies matching `answer` (lower-cased group 1, letters upper-cased), from the records' verdicts where
        this judge already answered this very prompt; new ones are filed in the records. None for errors."""
        hashes = [hashlib.sha256(p.encode()).hexdigest()[:16] for p in prompts]
        out: list[str | None] = []
        for record, digest in zip(records, hashes):
            entry = (record.get(VERDICTS) or {}).get(self.name)
            out.append(entry["reply"] if entry and entry.get("prompt_hash") == digest else None)
        todo = [i for i, reply in enumerate(out) if reply is None]
        if not todo:
            return out
        self.asked += len(todo)
        try:
            replies = self.backend.generate([Request([{"type": "text", "text": prompts[i]}]) for i in todo])
        except Exception as exc:  # noqa: BLE001 - any transport failure is a judge error, reported below
            replies = [None] * len(todo)
            self.last_error = f"{type(exc).__name__}: {exc}"
        for i, text in zip(todo, replies):
            match = answer.match(text or "")
            if match is None:
                self.errors += 1
                continue
            reply = match.group(1)
            out[i] = reply.upper() if len(reply) == 1 else reply.lower()
            records[i][VERDICTS] = {**(records[i].get(VERDICTS) or {}),
                                    self.name: {"prompt_hash": hashes[i], "reply": out[i]}}
        return out


def make_judge(cfg) -> LLMJudge | None:
    """The judge `cfg` (an eval.judge section, lingshu.eval.config.JudgeConfig) describes, or None without a model."""
    if not cfg.model:
        return None
    from lingshu.eval.backends import make_backend

    backend = make_backend("openai", cfg.model, max_new_tokens=4, api_key_env=cfg.api_key_env,
                           **({"base_url": cfg.base_url} if cfg.base_url else {}))
    return LLMJudge(backend, cfg.model, cfg.prompt_version)


def apply_judge(judge: LLMJudge, scored: list[dict], protocol: str) -> dict:
    """Judge, in place, the scored records the rules failed (wrong open answers; under `strict`, unparsed choices);
    returns the report: what was judged, the errors, and the open, closed and overall scores with their counts."""
    wrong_open = [r for r in scored if r["kind"] == "open" and not r["correct"]]
    unparsed = [r for r in scored if protocol == "strict" and r["kind"] == "mcq" and not r["parsed"]]
    errors_before = judge.errors
    for record, verdict in zip(wrong_open, judge.judge(wrong_open)):
        if verdict is not None:
            record |= {"correct": verdict, "judged": True}
    for record, letter in zip(unparsed, judge.choose(unparsed)):
        if letter not in (None, "none"):
            record |= {"extracted": letter, "parsed": True, "judged": True,
                       "correct": letter == str(record["answer"]).upper()}
    return {"model": judge.model_name, "prompt_version": judge.prompt_version,
            "open_answers_judged": len(wrong_open), "unparsed_choices_judged": len(unparsed),
            "judge_errors": judge.errors - errors_before, "by_kind": scores_by_kind(scored)}


def scores_by_kind(scored: list[dict]) -> dict[str, dict]:
    """Open questions, closed ones (yes/no, closed short answers, multiple choice) and all of them: score %, the
    questions counted, and how many of them the judge decided (score None where none). Reports (ROUGE-L) count
    only in `overall`."""
    groups = {"open": [r for r in scored if r["kind"] == "open"],
              "closed": [r for r in scored if r["kind"] in ("yes_no", "closed", "mcq")], "overall": scored}
    return {name: {"score": 100 * sum(float(r["correct"]) for r in rs) / len(rs) if rs else None,
                   "n": len(rs), "judged": sum(bool(r.get("judged")) for r in rs)} for name, rs in groups.items()}
