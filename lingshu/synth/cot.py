"""Medical chain-of-thought: reasoning written for a question with its gold answer, then judged.

Two LLM calls per question: the writer sees the gold answer and must end on its letter (else
`answer_mismatch`); a separate judging call must reply `consistent` (else `inconsistent`, or
`judge_unparsed` for any other reply). Only reasoning that passes both is kept.
"""

from __future__ import annotations

import re

from lingshu.data.schema import Sample
from lingshu.eval.prompts import multiple_choice
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import Prompt
from lingshu.synth.mcq import final_letter, mcq_items
from lingshu.synth.workspace import Workspace, synthetic_sample

GENERATOR = "cot"
THINK = "\nThink step by step, then finish with a line \"Answer: <letter>\"."
_VERDICT = re.compile(r"^\W*(consistent|inconsistent)\W*$", re.IGNORECASE)


def chain_of_thought(ws: Workspace, ledger: Ledger) -> list[Sample]:
    cfg = ws.cfg.cot
    if ws.llm is None:
        ledger.skipped = f"reasoning needs an LLM: {ws.why_no_llm}"
        return []
    items = mcq_items(ws, list(cfg.sources), cfg.max_questions, GENERATOR, ledger)
    ledger.attempt(len(items))
    prompts = ws.templates.prompts
    writes = ws.ask(ledger, [Prompt(prompts["cot_write"].format(
        question=i.question, context=f"Context: {i.context}\n" if i.context else "", options=i.options_text(),
        gold=i.gold_text(), gold_letter=i.gold)) for i in items], "CoT: write")
    judged = []
    for item, write in zip(items, writes):
        sample_id = f"{GENERATOR}:{item.id}"
        picked = final_letter(write.text) if write.text is not None else None
        reason = "llm_error" if write.text is None else "answer_mismatch" if picked != item.gold else ""
        if reason:
            ledger.reject(sample_id, "write", reason, write.error or f"ends on {picked}, gold {item.gold}", [item.id],
                          item.provenance_file)
            continue
        judged.append((item, write.text.strip()))
    verdicts = ws.ask(ledger, [Prompt(prompts["cot_judge"].format(question=i.question, gold=i.gold_text(), reasoning=r))
                               for i, r in judged], "CoT: judge")
    samples = []
    for (item, reasoning), verdict in zip(judged, verdicts):
        sample_id = f"{GENERATOR}:{item.id}"
        match = _VERDICT.match(verdict.text or "")
        reason = "llm_error" if verdict.text is None else "judge_unparsed" if match is None else \
            "inconsistent" if match.group(1).lower() == "inconsistent" else ""
        if reason:
            ledger.reject(sample_id, "judge", reason, verdict.error or (verdict.text or "")[:300], [item.id], item.provenance_file)
            continue
        ledger.accept()
        samples.append(synthetic_sample(
            id=sample_id, generator=GENERATOR, group="medical_cot", task="mcq",
            question=multiple_choice(item.question, item.options, item.context or None).split("\nAnswer with")[0] + THINK,
            answer=reasoning, images=[], modality=None, body_part=None, licence=item.licence,
            provenance_file=item.provenance_file, source_ids=[item.id],
            steps={"gold": item.gold, "verdict": match.group(1).lower()}))
    return samples
