"""Long captions in the recipe's five steps, each step's output kept with the sample.

1. metadata -> short caption, from templates (no LLM);
2. regions of interest: segmentation masks -> minimal boxes drawn on the image (no LLM, lingshu.synth.roi);
3. factual description from the boxed image + short caption + known facts (LLM);
4. description of the plain image following the modality's clinician checklist (LLM);
5. merge, facts winning (LLM). A contradiction between 3 and 4 rejects the sample, whether the merge step
   reports it or the modality / plane words of the two descriptions disagree; a merged caption that
   contradicts a known fact is rejected too.
Without an LLM, steps 1-2 still run (their outputs go to the gallery and the ledger's notes) and the
generator reports that steps 3-5 were skipped and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lingshu.data.schema import Sample
from lingshu.synth.facts import ImageFacts
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import Prompt, reply_json
from lingshu.synth.roi import RoiRejection, RoiSlice, draw_boxes, read_roi_source
from lingshu.synth.templates import Templates
from lingshu.synth.workspace import Workspace, synthetic_sample

GENERATOR = "long_caption"
PROMPT = "Describe this medical image in detail."


@dataclass
class CaptionInput:
    """One image to caption, after steps 1 and 2."""

    id: str
    facts: ImageFacts
    short_caption: str
    boxed_image: str | None = None          # store key of the image with ROI boxes drawn
    boxes: list[dict] = field(default_factory=list)


def short_caption(templates: Templates, facts: ImageFacts, roi_labels: list[str] | None = None) -> str:
    """Step 1: the first template whose fields are all known; "" when the metadata names nothing."""
    known = {"modality": facts.modality and templates.name("modality", facts.modality),
             "body_part": facts.body_part and templates.name("body_part", facts.body_part),
             "plane": facts.plane and templates.name("plane", facts.plane),
             "series": facts.tags.get("SeriesDescription")}
    text = ""
    for template in templates.short_caption:
        needed = re.findall(r"\{(\w+)\}", template)
        if all(known.get(name) for name in needed):
            text = template.format(**known)
            break
    if text and roi_labels:
        text = f"{text} {templates.roi_caption.format(labels=', '.join(sorted(set(roi_labels))))}"
    return text


def mentions(templates: Templates, kind: str, text: str) -> set[str]:
    """Which values of a label type (modality / plane) a text names, by the lexicon's words."""
    lowered = f" {text.lower()} "
    return {value for value, words in templates.lexicon.get(kind, {}).items()
            if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", lowered) for w in words)}


def contradiction(templates: Templates, factual: str, checklist: str) -> str:
    """A description of the disagreement between steps 3 and 4 on modality or plane, or ""."""
    for kind in ("modality", "plane"):
        a, b = mentions(templates, kind, factual), mentions(templates, kind, checklist)
        if a and b and not a & b:
            return f"{kind}: factual says {sorted(a)}, checklist says {sorted(b)}"
    return ""


def fact_conflict(templates: Templates, facts: ImageFacts, caption: str) -> str:
    """A known modality or plane the merged caption contradicts (names another value and not this one), or ""."""
    for kind, value in (("modality", facts.modality), ("plane", facts.plane)):
        named = mentions(templates, kind, caption)
        if value and named and value not in named:
            return f"{kind} is {value}, caption says {sorted(named)}"
    return ""


def _roi_inputs(ws: Workspace, ledger: Ledger) -> list[CaptionInput]:
    """Step 2 for every configured segmentation source; unusable slices are counted rejections."""
    inputs = []
    for source in ws.cfg.captions.roi_sources:
        for item in read_roi_source(source.kind, ws.repo / source.path, ws.repo, dict(source.options)):
            item_id = f"{GENERATOR}:{source.name}:{item.id}"
            if isinstance(item, RoiRejection):
                ledger.attempt()
                ledger.reject(item_id, "roi", item.reason, item.detail, [item.ref], item.source_file)
                continue
            inputs.append(_roi_input(ws, source, item, item_id))
    return inputs


def _roi_input(ws: Workspace, source, item: RoiSlice, item_id: str) -> CaptionInput:
    plain = ws.put_image(item.image.convert("RGB"))
    boxed = ws.put_image(draw_boxes(item.image, item.boxes))
    facts = ImageFacts(plain, source.name, source.licence, item.source_file, [item.ref],
                       modality=item.modality, body_part=item.body_part)
    labels = [box.label for box in item.boxes]
    return CaptionInput(item_id, facts, short_caption(ws.templates, facts, labels), boxed,
                        [{"label": b.label, "box": b.as_list()} for b in item.boxes])


def prepare(ws: Workspace, facts: list[ImageFacts], ledger: Ledger) -> list[CaptionInput]:
    """Steps 1 and 2 for every image; an image whose metadata gives no short caption is rejected."""
    inputs = []
    for item in facts:
        item_id = f"{GENERATOR}:{item.image.split('.')[0][:16]}"
        text = short_caption(ws.templates, item)
        if not text:
            ledger.attempt()
            ledger.reject(item_id, "template", "no_metadata", "no template's fields are known", item.source_ids,
                          item.provenance_file)
            continue
        inputs.append(CaptionInput(item_id, item, text))
    return inputs + _roi_inputs(ws, ledger)


def _regions(inp: CaptionInput) -> str:
    return "; ".join(f"{b['label']} at {b['box']}" for b in inp.boxes) or "none"


def describe(ws: Workspace, inputs: list[CaptionInput], ledger: Ledger) -> list[Sample]:
    """Steps 3-5 (LLM) for prepared inputs; each input is accepted or rejected with the failing step."""
    prompts = ws.templates.prompts
    ledger.attempt(len(inputs))
    factual_prompts = [Prompt(prompts["factual"].format(short_caption=i.short_caption, facts="\n".join(i.facts.statements()),
                                                        regions=_regions(i)),
                              images=[ws.image_path(i.boxed_image or i.facts.image)]) for i in inputs]
    checklist_prompts = [Prompt(prompts["checklist"].format(
        modality_name=ws.templates.name("modality", i.facts.modality or "medical"),
        checklist="\n".join(f"- {c}" for c in ws.templates.checklist(i.facts.modality))),
        images=[ws.image_path(i.facts.image)]) for i in inputs]
    replies = ws.ask(ledger, factual_prompts + checklist_prompts, "captions: factual + checklist")
    factual, checklist = replies[:len(inputs)], replies[len(inputs):]
    merging = []
    for inp, fact_reply, check_reply in zip(inputs, factual, checklist):
        failed = next(((step, r) for step, r in (("factual", fact_reply), ("checklist", check_reply)) if r.text is None), None)
        if failed:
            ledger.reject(inp.id, failed[0], "llm_error", failed[1].error, inp.facts.source_ids, inp.facts.provenance_file)
            continue
        conflict = contradiction(ws.templates, fact_reply.text, check_reply.text)
        if conflict:
            ledger.reject(inp.id, "contradiction", "contradiction", conflict, inp.facts.source_ids, inp.facts.provenance_file)
            continue
        merging.append((inp, fact_reply.text, check_reply.text))
    merge_prompts = [Prompt(prompts["merge"].format(factual=f, checklist_description=c)) for _, f, c in merging]
    samples = []
    for (inp, fact_text, check_text), reply in zip(merging, ws.ask(ledger, merge_prompts, "captions: merge")):
        reason, detail, caption = _verify_merge(ws.templates, inp.facts, reply)
        if reason:
            ledger.reject(inp.id, "merge", reason, detail, inp.facts.source_ids, inp.facts.provenance_file)
            continue
        ledger.accept()
        samples.append(synthetic_sample(
            id=inp.id, generator=GENERATOR, group="medical_caption", task="caption", question=PROMPT,
            answer=caption, images=[inp.facts.image], modality=inp.facts.modality, body_part=inp.facts.body_part,
            licence=inp.facts.licence, provenance_file=inp.facts.provenance_file, source_ids=inp.facts.source_ids,
            steps={"short_caption": inp.short_caption, "boxes": inp.boxes, "boxed_image": inp.boxed_image,
                   "factual": fact_text, "checklist": check_text, "merged": caption}))
    return samples


def _verify_merge(templates: Templates, facts: ImageFacts, reply) -> tuple[str, str, str]:
    """(reason, detail, caption): reason is "" when the merged caption is usable."""
    if reply.text is None:
        return "llm_error", reply.error, ""
    data = reply_json(reply.text)
    if data is None or not isinstance(data.get("caption"), str) or not data["caption"].strip():
        return "malformed_json", reply.text[:300], ""
    if data.get("contradiction") is True or str(data.get("contradiction")).strip().lower() == "true":
        return "contradiction", "reported by the merge step", ""
    caption = data["caption"].strip()
    conflict = fact_conflict(templates, facts, caption)
    return ("facts_overridden", conflict, "") if conflict else ("", "", caption)


def long_captions(ws: Workspace, facts: list[ImageFacts], ledger: Ledger) -> tuple[list[Sample], list[CaptionInput]]:
    """The generator: (accepted samples, the step-1/2 inputs for the gallery)."""
    inputs = prepare(ws, facts, ledger)
    if ws.llm is None:
        ledger.skipped = f"steps 3-5 need an LLM: {ws.why_no_llm}"
        ledger.notes["prepared_without_llm"] = len(inputs)
        return [], inputs
    return describe(ws, inputs, ledger), inputs

