"""Score one prediction record, under the default `strict` protocol or `medevalkit`.

A record (one line of predictions.jsonl) carries everything scoring needs — the kind of question, the
gold answer, the options and the raw response — so rescoring, or scoring under the other protocol,
never needs the model.
"""

from __future__ import annotations

from lingshu.eval import medevalkit_protocol
from lingshu.eval.extract import UNPARSED, extract_choice, extract_short, extract_yes_no, final_answer, normalise
from lingshu.eval.metrics import token_f1, token_recall

PROTOCOLS = ("strict", "medevalkit")


def score_record(record: dict, protocol: str = "strict",
                 medevalkit: medevalkit_protocol.Settings | None = None) -> dict:
    """{extracted, correct, parsed, f1, recall} for one record; under `medevalkit`, judged as MedEvalKit judges
    the benchmark whose settings `medevalkit` are (default: its most common rules)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {PROTOCOLS}")
    kind, response, answer = record["kind"], record.get("response") or "", str(record["answer"])
    if kind == "report":  # corpus metrics come from report_metrics at summary time; per sample: ROUGE-L
        return score_report(response, answer)
    if protocol == "medevalkit":
        return medevalkit_protocol.judge(medevalkit or medevalkit_protocol.Settings(), record)
    if kind == "mcq":
        extracted = extract_choice(response, record.get("options") or {})
        gold = answer.upper()
    elif kind == "yes_no":
        extracted, gold = extract_yes_no(response), normalise(answer)
    else:
        extracted, gold = extract_short(response), normalise(answer)
    out = {"extracted": extracted, "correct": extracted == gold, "parsed": extracted != UNPARSED}
    if kind in ("closed", "open"):
        said = "" if extracted == UNPARSED else extracted
        out |= {"f1": token_f1(said, gold), "recall": token_recall(said, gold)}
    return out


def score_report(response: str, reference: str) -> dict:
    """A generated report's per-sample ROUGE-L F (0-1); an empty report is a parse failure scoring 0."""
    from rouge_score import rouge_scorer

    text = final_answer(response)
    rouge = rouge_scorer.RougeScorer(["rougeL"]).score(reference, text)["rougeL"].fmeasure if text else 0.0
    return {"extracted": text or UNPARSED, "correct": rouge, "parsed": bool(text), "rouge_l": rouge}
