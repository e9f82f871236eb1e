"""OCR data: exam questions rendered into images, answered from the image, kept only on an exact match.

The recipe asks a reasoning model to answer the rendered question and keeps the sample only when its final
answer is exactly the ground truth. Without an LLM (`offline_answer: gold`) the page is still rendered and
the sample answers with the gold letter, marked `answer_source: gold` in its steps, so a run without an
endpoint still trains reading; `offline_answer: skip` drops them instead.
"""

from __future__ import annotations

from lingshu.data.schema import Sample
from lingshu.eval.prompts import MCQ
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import Prompt
from lingshu.synth.mcq import McqItem, final_letter, mcq_items
from lingshu.synth.render import render_page, sample_style
from lingshu.synth.workspace import Workspace, synthetic_sample

GENERATOR = "ocr"
READ_AND_ANSWER = "Read the exam question in the image. Answer with the option's letter from the given choices directly."
READ_AND_REASON = "Read the exam question in the image, reason step by step, then finish with a line \"Answer: <letter>\"."


def page_text(item: McqItem) -> str:
    return MCQ.format(question=item.question, options=item.options_text()).split("\nAnswer with")[0].strip()


def ocr(ws: Workspace, ledger: Ledger) -> list[Sample]:
    cfg = ws.cfg.ocr
    if ws.llm is None and cfg.offline_answer == "skip":
        ledger.skipped = f"answers need an LLM ({ws.why_no_llm}) and ocr.offline_answer is skip"
        return []
    if cfg.offline_answer not in ("gold", "skip"):
        raise ValueError(f"synthesize.ocr.offline_answer must be gold or skip, not {cfg.offline_answer!r}")
    items = mcq_items(ws, list(cfg.sources), cfg.max_questions, GENERATOR, ledger)
    rng = ws.rng(GENERATOR)
    pages = []
    for item in items:
        style = sample_style(rng, cfg)
        image = render_page(page_text(item), style, cfg.width, ws.repo)
        pages.append((item, style, ws.put_image(image, "JPEG", quality=style.jpeg_quality)))
    ledger.attempt(len(pages))
    if ws.llm is None:
        ledger.skipped = f"model answers need an LLM ({ws.why_no_llm}); pages answered with the gold letter"
        replies = [None] * len(pages)
    else:
        replies = ws.ask(ledger, [Prompt(ws.templates.prompts["ocr_answer"], images=[ws.image_path(key)])
                                  for _, _, key in pages], "OCR answers")
    samples = []
    for (item, style, key), reply in zip(pages, replies):
        sample_id = f"{GENERATOR}:{item.id}"
        steps = {"style": style.as_dict(), "gold": item.gold, "answer_source": "gold" if reply is None else "model"}
        if reply is None:
            question, answer = READ_AND_ANSWER, item.gold
        else:
            picked = final_letter(reply.text) if reply.text is not None else None
            reason = "llm_error" if reply.text is None else "answer_unparsed" if picked is None else \
                "answer_mismatch" if picked != item.gold else ""
            if reason:
                ledger.reject(sample_id, "answer", reason, reply.error or f"model {picked}, gold {item.gold}",
                              [item.id], item.provenance_file)
                continue
            question, answer = READ_AND_REASON, reply.text.strip()
            steps["model_answer"] = picked
        ledger.accept()
        samples.append(synthetic_sample(
            id=sample_id, generator=GENERATOR, group="synthetic_multimodal", task="mcq", question=question,
            answer=answer, images=[key], modality="table", body_part=None, licence=item.licence,
            provenance_file=item.provenance_file, source_ids=[item.id], steps=steps))
    return samples
