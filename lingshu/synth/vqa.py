"""VQA generators: label templates with distractors (no LLM), and self-instruct VQA from image + caption (LLM).

Template questions ask about labels that are certain (modality, body part, plane, segmented structures);
wrong options and "no" questions draw from the same source's label space, so a distractor is always a
plausible value that is wrong for this image. Yes/no questions come in pairs (the label: yes; a
distractor: no), one pair per distractor, so "yes" and "no" are equally likely answers. Self-instruct replies are JSON checked field by field; an
`error` reply (the LLM saw that image and caption disagree) or malformed JSON is a counted rejection.
"""

from __future__ import annotations

import json
import string

from lingshu.data.schema import Sample
from lingshu.eval.prompts import YES_NO, multiple_choice, vqa
from lingshu.synth.captions import short_caption
from lingshu.synth.facts import ImageFacts, label_space
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import Prompt, reply_json
from lingshu.synth.workspace import Workspace, synthetic_sample

TEMPLATE = "vqa_template"
SELF_INSTRUCT = "vqa_self_instruct"


def _lettered(rng, right: str, wrong: list[str]) -> tuple[dict[str, str], str]:
    options = [right, *wrong]
    rng.shuffle(options)
    lettered = dict(zip(string.ascii_uppercase, options))
    return lettered, next(k for k, v in lettered.items() if v == right)


def _yes_no(ws: Workspace, forms: dict[str, list[str]], named: str, rng) -> str:
    return YES_NO.format(question=ws.templates.fill(rng.choice(forms["yes_no"]), value=named))


def _candidates(ws: Workspace, item: ImageFacts, space: dict, rng) -> list[dict]:
    """Every template question this image's labels allow: (label type, form, question, answer, verification)."""
    out = []
    for kind, value in item.labels().items():
        name = ws.templates.name(kind, value)
        others = [ws.templates.name(kind, v) for v in space.get((item.source, kind), []) if v != value]
        forms = ws.templates.vqa[kind]
        out.append({"label": kind, "form": "open", "value": value, "answer": name,
                    "question": vqa(rng.choice(forms["open"]), "open")})
        wrong = rng.sample(others, min(ws.cfg.vqa.distractors, len(others)))
        if wrong:
            options, letter = _lettered(rng, name, wrong)
            out.append({"label": kind, "form": "choice", "value": value, "answer": letter, "options": options,
                        "question": multiple_choice(rng.choice(forms["choice"]), options)})
        for asked in wrong or [None]:  # a "no" per distractor, and as many "yes": the answer is never the prior
            out.append({"label": kind, "form": "yes_no", "value": value, "answer": "yes",
                        "question": _yes_no(ws, forms, name, rng)})
            if asked is not None:
                out.append({"label": kind, "form": "yes_no", "value": value, "answer": "no", "asked": asked,
                            "question": _yes_no(ws, forms, asked, rng)})
        if wrong:
            pair = rng.sample([name, wrong[0]], 2)
            out.append({"label": kind, "form": "either", "value": value, "answer": name, "asked": pair,
                        "question": vqa(ws.templates.fill(rng.choice(forms["either"]), first=pair[0], second=pair[1]),
                                        "closed")})
    return out


def verify_template(candidate: dict, ws: Workspace) -> str | None:
    """Why a template question is unusable, or None: the answer must be the label, never a distractor."""
    right = ws.templates.name(candidate["label"], candidate["value"])
    if candidate["form"] == "choice":
        texts = list(candidate["options"].values())
        if texts.count(right) != 1 or candidate["options"].get(candidate["answer"]) != right:
            return "answer_not_unique_option"
    if candidate["form"] == "yes_no" and candidate["answer"] == "no" and candidate.get("asked") == right:
        return "distractor_equals_label"
    if candidate["form"] == "either" and candidate["asked"].count(right) != 1:
        return "distractor_equals_label"
    return None


def template_vqa(ws: Workspace, facts: list[ImageFacts], ledger: Ledger) -> list[Sample]:
    rng = ws.rng(TEMPLATE)
    space = label_space(facts)
    samples = []
    for item in facts:
        candidates = _candidates(ws, item, space, rng)
        wanted = ws.cfg.vqa.questions_per_image or len(candidates)
        chosen = rng.sample(candidates, min(wanted, len(candidates)))
        for n, candidate in enumerate(chosen):
            ledger.attempt()
            sample_id = f"{TEMPLATE}:{item.image.split('.')[0][:16]}:{n}"
            problem = verify_template(candidate, ws)
            if problem:
                ledger.reject(sample_id, "verify", problem, json.dumps(candidate), item.source_ids, item.provenance_file)
                continue
            ledger.accept()
            steps = {k: v for k, v in candidate.items() if k not in ("question", "answer")}
            samples.append(synthetic_sample(
                id=sample_id, generator=TEMPLATE, group="synthetic_multimodal",
                task="mcq" if candidate["form"] == "choice" else "vqa", question=candidate["question"],
                answer=candidate["answer"], images=[item.image], modality=item.modality, body_part=item.body_part,
                licence=item.licence, provenance_file=item.provenance_file, source_ids=item.source_ids, steps=steps))
    return samples


def parse_self_instruct(reply: str) -> tuple[dict | None, str, str]:
    """(fields, reason, detail): fields when the reply is a usable question, else the rejection reason."""
    data = reply_json(reply)
    if data is None:
        return None, "malformed_json", (reply or "")[:200]
    if "error" in data:
        return None, "image_caption_disagree", str(data["error"])[:500]
    question, answer, wrong = data.get("question"), data.get("answer"), data.get("wrong_answers")
    if not (isinstance(question, str) and question.strip() and isinstance(answer, str) and answer.strip()):
        return None, "missing_fields", json.dumps(data)[:300]
    if not isinstance(wrong, list) or not 1 <= len(wrong) <= 3 or not all(isinstance(w, str) and w.strip() for w in wrong):
        return None, "bad_wrong_answers", json.dumps(data)[:300]
    if answer.strip().lower() in {w.strip().lower() for w in wrong}:
        return None, "answer_among_wrong_answers", json.dumps(data)[:300]
    if len({w.strip().lower() for w in wrong}) < len(wrong):
        return None, "duplicate_wrong_answers", json.dumps(data)[:300]
    return {"question": question.strip(), "answer": answer.strip(), "wrong_answers": [w.strip() for w in wrong]}, "", ""


def self_instruct_vqa(ws: Workspace, facts: list[ImageFacts], ledger: Ledger) -> list[Sample]:
    """One LLM-written multiple-choice question per image that has a caption (curated or template)."""
    rng = ws.rng(SELF_INSTRUCT)
    work = [(item, item.caption or short_caption(ws.templates, item)) for item in facts]
    work = [(item, caption) for item, caption in work if caption]
    prompts = [Prompt(ws.templates.prompts["self_instruct"].format(caption=caption), images=[ws.image_path(item.image)])
               for item, caption in work]
    ledger.attempt(len(work))
    samples = []
    for (item, caption), completion in zip(work, ws.ask(ledger, prompts, "self-instruct VQA")):
        sample_id = f"{SELF_INSTRUCT}:{item.image.split('.')[0][:16]}"
        if completion.text is None:
            ledger.reject(sample_id, "ask", "llm_error", completion.error, item.source_ids, item.provenance_file)
            continue
        fields, reason, detail = parse_self_instruct(completion.text)
        if fields is None:
            ledger.reject(sample_id, "verify", reason, detail, item.source_ids, item.provenance_file)
            continue
        options, letter = _lettered(rng, fields["answer"], fields["wrong_answers"])
        ledger.accept()
        samples.append(synthetic_sample(
            id=sample_id, generator=SELF_INSTRUCT, group="synthetic_multimodal", task="mcq",
            question=multiple_choice(fields["question"], options), answer=letter, images=[item.image],
            modality=item.modality, body_part=item.body_part, licence=item.licence,
            provenance_file=item.provenance_file, source_ids=item.source_ids,
            steps={"caption": caption, "reply": completion.text, **fields, "options": options}))
    return samples
