"""The synthesis generators one by one: template VQA, self-instruct parsing, caption checks, OCR pages, the ledger.

Every test reads a small curated corpus written here (real VQA-RAD images, labels chosen by the test) and
checks the generators' output against that ground truth and the template files, never against the code's
own bookkeeping. `write_synth_corpus` and `synth_config` are shared with test_synth_stage.py.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from chat_server import ChatServer

from lingshu.config import load_section
from lingshu.data.schema import ARROW_SCHEMA, Sample
from lingshu.data.sources.common import qa_turns
from lingshu.data.store import ImageStore
from lingshu.io import write_parquet
from lingshu.synth.captions import contradiction, fact_conflict, short_caption
from lingshu.synth.facts import ImageFacts, gather_facts
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import Completion, Prompt
from lingshu.synth.mcq import final_letter
from lingshu.synth.render import PageStyle, render_page
from lingshu.synth.run import open_workspace
from lingshu.synth.vqa import parse_self_instruct, self_instruct_vqa, template_vqa

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "synth_templates"
FONTS = REPO / "data/fonts"
NAMES = yaml.safe_load((TEMPLATES / "captions.yaml").read_text())["names"]
VQA_TEMPLATES = yaml.safe_load((TEMPLATES / "vqa.yaml").read_text())


# --- a curated corpus with known labels ---------------------------------------------------------------------


@dataclass
class CuratedImage:
    name: str                 # VQA-RAD file, also the curated store key
    source: str
    modality: str | None      # from metadata (None: only a classifier guess, which facts must ignore)
    body_part: str | None
    plane_answer: str | None  # the raw PLANE answer as a clinician wrote it
    plane: str | None         # its canonical value (synonyms mapped by hand here, not by the code)
    split: str = "train"
    caption: str = ""         # a curated caption row, when there is one
    row_ids: list[str] = field(default_factory=list)


@dataclass
class Mcq:
    id: str
    answer: str               # PubMedQA decision
    split: str = "train"
    gold: str = ""            # expected gold letter ("" when the answer is not an option)
    question: str = ""


@dataclass
class Corpus:
    root: Path
    images: dict[str, CuratedImage]
    mcqs: dict[str, Mcq]

    def train_images(self) -> list[CuratedImage]:
        return [i for i in self.images.values() if i.split == "train"]

    def space(self, source: str, kind: str) -> set[str]:
        """Display names of one label type over a source's train images."""
        return {display(kind, getattr(i, kind)) for i in self.train_images() if i.source == source and getattr(i, kind)}

    def image_of_ids(self, ids) -> str:
        (name,) = {i.name for i in self.images.values() if set(ids) & set(i.row_ids)}
        return name


def display(kind: str, value: str) -> str:
    return NAMES.get(kind, {}).get(value, value)


IMAGES = [  # the smallest VQA-RAD files, so requests carrying them stay small
    CuratedImage("synpic59536.jpg", "vqa_rad", "ct", "head", "axial", "axial", caption="Head CT, non-contrast."),
    CuratedImage("synpic46720.jpg", "vqa_rad", "mri", "head", "transverse", "axial", caption="Brain MRI, T2 weighted."),
    CuratedImage("synpic47783.jpg", "vqa_rad", "x-ray", "chest", "posteroanterior", "pa", caption="Chest radiograph."),
    CuratedImage("synpic33378.jpg", "vqa_rad", "x-ray", "chest", "PA", "pa"),
    CuratedImage("synpic51426.jpg", "vqa_rad", "ct", "abd", "coronal", "coronal", caption="CT of the abdomen."),
    CuratedImage("synpic45544.jpg", "vqa_rad", None, None, None, None),                  # nothing known for certain
    CuratedImage("synpic42951.jpg", "vqa_rad", "ct", "chest", "sagittal", "sagittal", split="test", caption="Chest CT."),
    CuratedImage("synpic38069.jpg", "roco", "ultrasound", "liver", "lateral", "lateral", caption="Liver ultrasound."),
    CuratedImage("synpic39240.jpg", "roco", "x-ray", "spine", None, None),
]
NAMED = {kind: {display(kind, getattr(i, kind)) for i in IMAGES if getattr(i, kind)}
         for kind in ("modality", "body_part", "plane")}  # what a question may name, per label type
MCQS = [Mcq("pubmedqa:1", "yes"), Mcq("pubmedqa:2", "yes"), Mcq("pubmedqa:3", "no"), Mcq("pubmedqa:4", "yes"),
        Mcq("pubmedqa:5", "maybe", split="test"), Mcq("pubmedqa:6", "perhaps")]


def write_synth_corpus(root: Path) -> Corpus:
    """curated/{medical_multimodal,medical_caption,medical_text}/part-000-00000.parquet (curate's layout) and
    images/ under `root`."""
    store = ImageStore(root / "images")
    images = {i.name: replace(i, row_ids=[]) for i in IMAGES}
    vqa, captions = [], []
    for n, image in enumerate(images.values()):
        store.stage(image.name, (REPO / "data/sources/vqa_rad/images" / image.name).read_bytes())
        label = dict(modality=image.modality or "ct", modality_source="metadata" if image.modality else "classifier",
                     body_part=image.body_part, licence="CC0", split=image.split, provenance_file=f"{image.source}.json")
        rows = [("Is there a fracture?", "No", "CLOSED", "ABN")]
        if image.plane_answer:
            rows.append(("In which plane is this image?", image.plane_answer, "OPEN", "PLANE"))
        for k, (question, answer, answer_type, question_type) in enumerate(rows):
            row_id = f"{image.source}:{n}.{k}"
            image.row_ids.append(row_id)
            vqa.append(Sample(row_id, image.source, "medical_multimodal", "vqa", qa_turns(question, answer, 1),
                              [image.name], meta={"question": question, "answer": answer, "answer_type": answer_type,
                                                  "question_type": question_type}, **label))
        if image.caption:
            row_id = f"{image.source}:{n}.cap"
            image.row_ids.append(row_id)
            captions.append(Sample(row_id, image.source, "medical_caption", "caption",
                                   qa_turns("Describe this medical image.", image.caption, 1), [image.name], **label))
    mcqs, text = {}, []
    for n, item in enumerate(MCQS):
        question = f"Does treatment {n} reduce the risk of outcome {n} in adults?"
        options = ["yes", "no", "maybe"]
        gold = "ABC"[options.index(item.answer)] if item.answer in options else ""
        mcqs[item.id] = replace(item, gold=gold, question=question)
        prompt = f"Context: A cohort study of {100 + n} patients.\nQuestion: {question}\nAnswer with yes, no or maybe."
        text.append(Sample(item.id, "pubmedqa", "medical_text", "mcq", qa_turns(prompt, item.answer, 0), modality="text",
                           licence="MIT", split=item.split, provenance_file="pubmedqa.json",
                           meta={"question": question, "options": options, "answer": item.answer}))
    for name, samples in (("medical_multimodal", vqa), ("medical_caption", captions), ("medical_text", text)):
        write_parquet(root / f"curated/{name}/part-000-00000.parquet", [s.to_row() for s in samples], ARROW_SCHEMA)
    store.pack(store.staged())
    return Corpus(root, images, mcqs)


def synth_config(**overrides):
    """params.yaml's synthesize section with every path inside the temp repo and no LLM endpoint."""
    base = load_section("synthesize", REPO / "params.yaml")
    cfg = replace(base, input_dir="curated", image_store="images", output_dir="synthetic",
                  templates_dir=str(TEMPLATES), metrics_file="metrics/synthesize.json", plots_dir="plots",
                  llm=replace(base.llm, base_url="", model="", cache_dir="cache/llm", api_key_env="LINGSHU_NO_KEY"),
                  captions=replace(base.captions, max_images=0, roi_sources=[]),
                  ocr=replace(base.ocr, max_questions=0, offline_answer="gold",
                              fonts=["default", str(FONTS / "DejaVuSans.ttf"), str(FONTS / "DejaVuSerif.ttf")]),
                  vqa=replace(base.vqa, max_images=0), cot=replace(base.cot, max_questions=0))
    return replace(cfg, **overrides)


@pytest.fixture
def corpus(tmp_path) -> Corpus:
    return write_synth_corpus(tmp_path)


# --- parsing the rendered questions, independently of the generators ------------------------------------------


def options_of(question: str) -> dict[str, str]:
    block = question.split("Options:", 1)[1].split("Answer with", 1)[0]
    return dict(re.findall(r"^([A-Z])\. (.*)$", block, re.MULTILINE))


def _pattern(template: str) -> str:
    """A vqa.yaml wording as a regex: each name field a group, an `a_` field the name after "a" or "an"."""
    pattern = re.escape(template)
    for name in ("value", "first", "second"):
        pattern = pattern.replace(re.escape("{a_" + name + "}"), "an? (.+)").replace(re.escape("{" + name + "}"), "(.+)")
    return pattern + "\n"


def asked_kind(question: str) -> tuple[str, str, str | list[str] | None]:
    """(label type, form, value(s) named by a yes/no or either-or question) from the vqa.yaml wordings. Several
    label types share a wording ("Is this an MRI image?", "Is this an axial image?"): the names it asks tell them
    apart."""
    text = question.replace("<image>", "")
    for kind in ("modality", "body_part", "plane"):
        for form in ("open", "choice"):
            if any(text.startswith(t) or f"Question: {t}\n" in text for t in VQA_TEMPLATES[kind][form]):
                return kind, form, None
    for kind in ("modality", "body_part", "plane"):
        for form in ("either", "yes_no"):  # either first: "Was {value} used" would match "Was X or Y used"
            for template in VQA_TEMPLATES[kind][form]:
                match = re.match(_pattern(template), text)
                if match and set(match.groups()) <= NAMED[kind]:
                    return kind, form, list(match.groups()) if form == "either" else match.group(1)
    raise AssertionError(f"no vqa.yaml template matches {question!r}")


# --- template VQA ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_template_vqa_answers_are_the_labels_and_distractors_come_from_the_same_source(corpus, seed):
    ws = open_workspace(synth_config(seed=seed, vqa=replace(synth_config().vqa, questions_per_image=100)), corpus.root)
    facts = gather_facts(corpus.root / "curated", ["medical_caption", "medical_multimodal"], ws.templates.aliases,
                         set(ws.templates.names["plane"]))
    ledger = Ledger("vqa_template")
    samples = template_vqa(ws, facts, ledger)
    forms: dict[tuple[str, str], list[str]] = {}
    for sample in samples:
        (key,) = sample.images
        image = corpus.images[key]
        assert image.split == "train", f"{key} comes from a test row"
        question, answer = sample.conversations[0]["content"], sample.conversations[1]["content"]
        kind, form, asked = asked_kind(question)
        truth, space = display(kind, getattr(image, kind)), corpus.space(image.source, kind)
        forms.setdefault((key, kind), []).append(f"{form}:{answer}")
        if form == "open":
            assert answer == truth
        elif form == "choice":
            options = options_of(question)
            texts = list(options.values())
            assert texts.count(truth) == 1 and options[answer] == truth, (question, answer)
            assert set(texts) <= space, f"distractor from outside {image.source}'s {kind}s: {texts}"
            assert len(set(texts)) == len(texts) == 1 + min(3, len(space) - 1)
            assert sample.task == "mcq"
        elif form == "either":
            assert set(asked) <= space and asked.count(truth) == 1 and answer == truth, (question, answer)
            forms[(key, kind)][-1] = "either"
        else:
            assert asked in space and answer == ("yes" if asked == truth else "no"), (question, answer)
        named = asked if form == "either" else [asked] if asked else []
        for text in options_of(question).values() if form == "choice" else named:
            assert text not in ("posteroanterior", "transverse"), "a plane synonym was offered as a separate value"
    # every label of every train image is asked about in every form its source's label space allows
    for image in corpus.train_images():
        for kind in ("modality", "body_part", "plane"):
            value = getattr(image, kind)
            distractors = min(3, len(corpus.space(image.source, kind)) - 1)  # synth_config's vqa.distractors
            expected = [] if not value else ["open"] + ["yes_no:yes"] * max(1, distractors) + (
                ["choice", "either"] + ["yes_no:no"] * distractors if distractors else [])
            got = sorted(f.split(":")[0] if f.startswith(("open", "choice", "either")) else f
                         for f in forms.get((image.name, kind), []))
            assert got == sorted(expected), (image.name, kind, got)
    assert ledger.conserved() and ledger.accepted == len(samples) and not ledger.rejections


def test_facts_read_train_rows_only_ignore_classifier_modality_and_map_plane_synonyms(corpus):
    ws = open_workspace(synth_config(), corpus.root)
    facts = {f.image: f for f in gather_facts(corpus.root / "curated", ["medical_caption", "medical_multimodal"],
                                              ws.templates.aliases, set(ws.templates.names["plane"]))}
    assert set(facts) == {i.name for i in corpus.train_images()}
    for image in corpus.train_images():
        item = facts[image.name]
        assert (item.modality, item.body_part, item.plane) == (image.modality, image.body_part, image.plane)
        assert sorted(item.source_ids) == sorted(image.row_ids)


# --- self-instruct VQA -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, reason", [
    ("Sure, here is a question about the image.", "malformed_json"),
    ('{"question": "Which organ is shown?", "answer": "liver", ', "malformed_json"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": ["spleen",]}', "malformed_json"),
    ('["Which organ?", "liver"]', "malformed_json"),
    ('{"error": "the caption says CT but the image is a radiograph"}', "image_caption_disagree"),
    ('{"answer": "liver", "wrong_answers": ["spleen"]}', "missing_fields"),
    ('{"question": "Which organ?", "answer": "  ", "wrong_answers": ["spleen"]}', "missing_fields"),
    ('{"question": "Which organ?", "answer": 3, "wrong_answers": ["spleen"]}', "missing_fields"),
    ('{"question": "Which organ?", "answer": "liver"}', "bad_wrong_answers"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": []}', "bad_wrong_answers"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": ["a", "b", "c", "d"]}', "bad_wrong_answers"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": "spleen"}', "bad_wrong_answers"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": ["spleen", ""]}', "bad_wrong_answers"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": ["spleen", "Liver "]}',
     "answer_among_wrong_answers"),
    ('{"question": "Which organ?", "answer": "liver", "wrong_answers": ["spleen", "Spleen"]}',
     "duplicate_wrong_answers"),
])
def test_self_instruct_replies_that_are_not_a_usable_question_are_rejected_with_their_reason(reply, reason):
    fields, got, detail = parse_self_instruct(reply)
    assert fields is None and got == reason and detail


def test_a_valid_self_instruct_reply_in_prose_and_a_code_fence_is_read():
    reply = ('Here you go:\n```json\n{"question": " Which organ is shown? ", "answer": "liver",\n'
             ' "wrong_answers": ["spleen", "kidney", "pancreas"]}\n```')
    fields, reason, _ = parse_self_instruct(reply)
    assert reason == "" and fields == {"question": "Which organ is shown?", "answer": "liver",
                                       "wrong_answers": ["spleen", "kidney", "pancreas"]}


class ScriptedLLM:
    """Stands in for lingshu.synth.llm.LLM: replies from a function of the prompt, every prompt recorded."""

    model = "scripted"

    def __init__(self, reply):
        self.reply, self.prompts = reply, []

    def complete(self, prompts, desc=""):
        self.prompts += prompts
        return [self.reply(p) for p in prompts]


def test_self_instruct_vqa_accepts_valid_replies_as_mcq_whose_letter_is_the_answer(corpus):
    ws = open_workspace(synth_config(), corpus.root)
    facts = gather_facts(corpus.root / "curated", ["medical_caption", "medical_multimodal"], ws.templates.aliases,
                         set(ws.templates.names["plane"]))
    bad = {"synpic47783.jpg": '{"question": "What is shown?", "answer": "lungs", "wrong_answers": ["liver", ]}',
           "synpic33378.jpg": '{"error": "the image is not a CT"}'}

    def reply(prompt: Prompt) -> Completion:
        name = Path(prompt.images[0]).name
        if name == "synpic38069.jpg":
            return Completion(None, 0, 0, cached=False, error="HTTP 503")
        text = bad.get(name) or ('{"question": "What organ is imaged?", "answer": "organ of ' + name +
                                 '", "wrong_answers": ["kidney", "heart", "spleen"]}')
        return Completion(text, 10, 5, cached=False)

    ws = replace(ws, llm=ScriptedLLM(reply), why_no_llm="")
    ledger = Ledger("vqa_self_instruct")
    samples = self_instruct_vqa(ws, facts, ledger)
    asked = {Path(p.images[0]).name: p.text for p in ws.llm.prompts}
    # every train image with something to say is asked about once, with its curated caption where it has one
    assert set(asked) == {i.name for i in corpus.train_images() if i.caption or i.modality}
    for name, text in asked.items():
        if corpus.images[name].caption:
            assert corpus.images[name].caption in text
    good = set(asked) - set(bad) - {"synpic38069.jpg"}
    assert {s.images[0] for s in samples} == good
    for sample in samples:
        options = options_of(sample.conversations[0]["content"])
        assert sample.task == "mcq" and sorted(options.values()) == sorted(
            [f"organ of {sample.images[0]}", "kidney", "heart", "spleen"])
        assert options[sample.conversations[1]["content"]] == f"organ of {sample.images[0]}"
    reasons = {corpus.image_of_ids(r.source_ids): r.reason for r in ledger.rejections}
    assert reasons == {"synpic47783.jpg": "malformed_json", "synpic33378.jpg": "image_caption_disagree",
                       "synpic38069.jpg": "llm_error"}
    assert ledger.conserved() and ledger.attempts == len(asked)


@pytest.mark.parametrize("name, said", [
    ("MRI", "an MRI"), ("CT", "a CT"), ("X-ray", "an X-ray"), ("PA", "a PA"), ("AP", "an AP"), ("ultrasound", "an ultrasound"),
    ("axial", "an axial"), ("coronal", "a coronal"), ("lateral", "a lateral"), ("T2-weighted MRI", "a T2-weighted MRI"),
])
def test_a_template_names_a_label_with_the_article_it_is_read_with(name, said):
    from lingshu.synth.templates import Templates

    assert Templates.fill("Is this {a_value} image?", value=name) == f"Is this {said} image?"
    assert Templates.fill("Is this {a_first} or {a_second}?", first=name, second="CT") == f"Is this {said} or a CT?"


# --- long captions: the checks between steps ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def templates():
    from lingshu.synth.templates import load_templates

    return load_templates(TEMPLATES)


@pytest.mark.parametrize("factual, checklist", [
    ("Axial CT of the head without contrast.", "Sagittal MRI of the head, T2-weighted sequence."),
    ("A computed tomography slice of the chest.", "This magnetic resonance image shows the chest."),
    ("A chest radiograph in PA projection.", "Ultrasound of the chest wall."),
    ("An axial CT of the abdomen.", "A coronal CT of the abdomen with contrast."),
])
def test_contradiction_flags_modality_or_plane_disagreements(templates, factual, checklist):
    assert contradiction(templates, factual, checklist)
    assert contradiction(templates, checklist, factual)


@pytest.mark.parametrize("factual, checklist", [
    ("Axial CT of the head.", "Computed tomography in the transverse plane: no haemorrhage."),
    ("A T2-weighted image of the brain.", "MRI sequence: T2. Imaging plane: axial."),
    ("A chest radiograph.", "X-ray: lung fields clear, no fractures."),
    ("An image of the head.", "Sagittal MRI of the head."),                       # only one side names anything
    ("CT and MRI of the head, fused.", "The MRI component shows oedema."),      # they share a value
    ("The abstract pattern of the extract.", "MRI of the knee."),              # 'ct' inside words is no mention
])
def test_contradiction_leaves_agreeing_or_silent_descriptions_alone(templates, factual, checklist):
    assert contradiction(templates, factual, checklist) == ""


def test_fact_conflict_catches_a_merged_caption_that_overrides_a_known_fact(templates):
    facts = ImageFacts("x.png", "s", "CC0", "f", modality="ct", plane="axial")
    assert "modality" in fact_conflict(templates, facts, "An MRI of the brain in the axial plane.")
    assert "plane" in fact_conflict(templates, facts, "A coronal CT of the brain.")
    assert fact_conflict(templates, facts, "A transverse computed tomography slice of the brain.") == ""
    assert fact_conflict(templates, facts, "A slice of the brain with a small lesion.") == ""
    unknown = ImageFacts("x.png", "s", "CC0", "f")
    assert fact_conflict(templates, unknown, "A coronal MRI of the brain.") == ""


def test_short_caption_uses_the_first_template_whose_fields_are_all_known(templates):
    custom = replace(templates, short_caption=["{modality} / {body_part} / {plane}", "{modality} ({series})",
                                               "{modality} of the {body_part}", "Image of the {body_part}"])
    full = ImageFacts("x", "s", "", "", modality="mri", body_part="head", plane="axial")
    no_plane = ImageFacts("x", "s", "", "", modality="ct", body_part="abd")
    series = ImageFacts("x", "s", "", "", modality="ct", body_part="abd", tags={"SeriesDescription": "AX T1"})
    body_only = ImageFacts("x", "s", "", "", body_part="unlisted-organ")
    assert short_caption(custom, full) == "MRI / head / axial"
    assert short_caption(custom, no_plane) == "CT of the abdomen"
    assert short_caption(custom, series) == "CT (AX T1)"
    assert short_caption(custom, body_only) == "Image of the unlisted-organ"
    assert short_caption(custom, ImageFacts("x", "s", "", "")) == ""
    roi = short_caption(custom, no_plane, ["liver", "tumour", "liver"])
    assert roi.startswith("CT of the abdomen") and roi.count("liver") == 1 and "tumour" in roi


# --- OCR pages and answer letters --------------------------------------------------------------------------------


STYLE = PageStyle(font=str(FONTS / "DejaVuSans.ttf"), size=20, ink=20, paper=240, noise=8.0, rotation=1.2,
                  jpeg_quality=80)
PAGE = "Question: Does aspirin reduce the risk of stroke?\nOptions:\nA. yes\nB. no\nC. maybe"


def pixels(style: PageStyle, text: str = PAGE) -> np.ndarray:
    return np.asarray(render_page(text, style, 480, REPO))


def test_a_page_is_redrawn_exactly_from_its_style_even_in_another_process():
    first, second = pixels(STYLE), pixels(STYLE)
    assert first.shape == second.shape and np.array_equal(first, second)
    code = ("import hashlib, numpy as np; from pathlib import Path; from lingshu.synth.render import PageStyle, "
            f"render_page; print(hashlib.sha256(np.asarray(render_page({PAGE!r}, PageStyle(**{STYLE.as_dict()!r}), "
            f"480, Path({str(REPO)!r}))).tobytes()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert other.stdout.strip() == hashlib.sha256(first.tobytes()).hexdigest()


def test_fonts_sizes_and_text_change_the_page():
    base = pixels(STYLE)
    variants = [replace(STYLE, font=str(FONTS / "DejaVuSerif.ttf")), replace(STYLE, font="default"),
                replace(STYLE, size=24), replace(STYLE, noise=0.0, rotation=0.0)]
    for style in variants:
        other = pixels(style)
        assert other.shape != base.shape or not np.array_equal(other, base), style
    assert pixels(replace(STYLE, size=24)).shape[0] > base.shape[0], "bigger letters, taller page"
    assert not np.array_equal(pixels(STYLE, PAGE.replace("stroke", "strokes")), base)
    with pytest.raises(FileNotFoundError, match="no-such-font"):
        pixels(replace(STYLE, font="no-such-font.ttf"))


@pytest.mark.parametrize("text, letter", [
    ("The trial shows a clear reduction.\nAnswer: B", "B"),
    ("Reasoning...\nanswer: C", "C"),
    ("I think the answer is a clear no.", None),            # "a" is an article, not option A
    ("The answer is a matter of debate.\nAnswer: C", "C"),
    ("So the answer is (A).", "A"),
    ("Final answer: **D**", "D"),
    ("First I thought Answer: A, but on reflection the data favour no.\nAnswer: B", "B"),
    ("Answer：C", "C"),
    ("The abstract does not say.", None),
    ("", None),
    (None, None),
])
def test_final_letter_reads_the_last_answer_line(text, letter):
    assert final_letter(text) == letter


# --- the ledger ----------------------------------------------------------------------------------------------------


def test_ledger_conservation_counts_every_outcome():
    ledger = Ledger("g")
    ledger.attempt(3)
    ledger.accept()
    ledger.reject("g:1", "verify", "malformed_json", "x", ["s:1"])
    assert not ledger.conserved()
    ledger.reject("g:2", "ask", "llm_error", "503", ["s:2"])
    assert ledger.conserved()
    summary = ledger.summary()
    assert (summary["attempts"], summary["accepted"], summary["rejected"]) == (3, 1, 2)
    assert summary["rejected_by_reason"] == {"llm_error": 1, "malformed_json": 1} and summary["status"] == "ran"
    ledger.accept()
    assert not ledger.conserved(), "an extra acceptance breaks the balance too"
    idle = Ledger("h", skipped="needs an LLM")
    assert idle.conserved() and idle.summary()["status"] == "skipped" and idle.summary()["yield"] is None


def test_only_uncached_completions_cost_money():
    ledger = Ledger("g")
    price = {"input": 2.0, "output": 8.0}
    ledger.charge([Completion("a", 1000, 100, cached=False), Completion("b", 500, 50, cached=True),
                   Completion(None, 0, 0, cached=False, error="503")], price)
    assert (ledger.calls, ledger.cached_calls, ledger.tokens_in, ledger.tokens_out) == (3, 1, 1000, 100)
    assert ledger.cost_usd == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)
    free = Ledger("local")
    free.charge([Completion("a", 1000, 100, cached=False)], None)
    assert free.tokens_in == 1000 and free.cost_usd == 0


def test_workspace_ask_charges_a_real_endpoint_once_and_a_rerun_nothing(corpus):
    with ChatServer() as server:
        cfg = synth_config(prices={"m": {"input": 3.0, "output": 5.0}})
        cfg = replace(cfg, llm=replace(cfg.llm, base_url=server.url, model="m", retries=0))
        prompts = [Prompt("describe image one please"), Prompt("short one"), Prompt("short one")]
        first, second = Ledger("a"), Ledger("b")
        open_workspace(cfg, corpus.root).ask(first, prompts, "test")
        again = open_workspace(cfg, corpus.root).ask(second, prompts, "test")
        assert server.calls == 2, "identical prompts are asked once, and a second workspace asks the cache"
    words_in, words_out = 4 + 2, 4 + 2   # the echo server answers each prompt with itself, upper-cased
    assert (first.tokens_in, first.tokens_out) == (words_in, words_out)
    assert first.cost_usd == pytest.approx((words_in * 3.0 + words_out * 5.0) / 1e6)
    assert [c.text for c in again] == [p.text.upper() for p in prompts]
    assert (second.calls, second.cached_calls, second.tokens_in, second.cost_usd) == (3, 3, 0, 0.0)


@pytest.mark.parametrize("question,answer,closed,plane", [
    ("In what plane is this image oriented?", "Axial", False, "axial"),
    ("What is the name of this image's plane?", "Posteroanterior", False, "pa"),
    ("Was this image taken in the AP or PA plane?", "PA", True, "pa"),
    ("Is this a transverse section?", "yes", True, "axial"),
    ("Is this a lateral film?", "no", True, None),  # a "no" says which plane it is not, not which it is
    ("Is this in the lumbar vertebral level?", "yes", True, None),  # no plane named
    ("Is this an axial or coronal image?", "yes", True, None),  # two planes named: "yes" says nothing
    ("What plane is the lesion in?", "supratentorial", False, None),  # an answer that is no plane
])
def test_a_plane_answer_states_a_plane_only_when_it_names_one(question, answer, closed, plane):
    from lingshu.synth.facts import plane_answer

    aliases = {"posteroanterior": "pa", "transverse": "axial", "axial plane": "axial"}
    planes = {"pa", "ap", "axial", "coronal", "sagittal", "lateral"}
    assert plane_answer(question, answer, closed, aliases, planes) == plane
