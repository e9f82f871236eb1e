"""Which samples become RL prompts (lingshu/rl/selection.py), and in what wording and mixture.

A prompt whose answer cannot be checked mechanically, or whose wording differs from the evaluation's,
would make the rewards measure something the benchmarks do not; a mixture step that loses rows silently
would make the selection metrics lie. Small curated and synthetic tables shaped like the real ones
(VQA-RAD, PubMedQA, the vqa_template and ocr generators) are written to tmp_path and selected from.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from lingshu.data.schema import ARROW_SCHEMA, Sample
from lingshu.data.sources.common import qa_turns
from lingshu.eval.prompts import CLOSED, OPEN, YES_NO, multiple_choice, vqa
from lingshu.io import write_parquet
from lingshu.rl.config import SelectionConfig
from lingshu.rl.selection import select_prompts
from lingshu.synth.workspace import synthetic_sample

OCR_QUESTION = "Read the exam question in the image. Answer with the option's letter from the given choices directly."


# --- rows shaped like the real tables -----------------------------------------------------------------

def _vqa(i: int, question: str = "What organ is shown?", answer: str = "liver", answer_type: str = "OPEN",
         modality: str = "x-ray", split: str = "train") -> Sample:
    """A curated VQA-RAD row: one image, the question and answer also in meta."""
    return Sample(f"vqa_rad:{i}", "vqa_rad", "medical_multimodal", "vqa", qa_turns(question, answer, 1),
                  [f"img{i}.jpg"], modality=modality, split=split,
                  meta={"question": question, "answer": answer, "answer_type": answer_type, "qid": str(i)})


def _free_text(i: int, task: str) -> Sample:
    return Sample(f"{task}:{i}", "roco", "medical_multimodal", task,
                  qa_turns("Describe this medical image.", "Axial CT of the abdomen.", 1), [f"img{i}.jpg"], modality="ct")


def _mcq(i: int, question: str, options: list[str], answer: str, context: str = "") -> Sample:
    """A curated text-only MCQ row (PubMedQA's shape: options as a list, the answer as option text)."""
    user = (f"Context: {context}\n" if context else "") + f"Question: {question}\nAnswer with yes, no or maybe."
    return Sample(f"pubmedqa:{i}", "pubmedqa", "medical_text", "mcq", qa_turns(user, f"{answer}\nbecause ...", 0),
                  modality="text", licence="MIT", meta={"question": question, "options": options, "answer": answer})


def _synthetic(id: str, generator: str, task: str, question: str, answer: str, steps: dict,
               source_ids: list[str], modality: str = "ct") -> Sample:
    return synthetic_sample(id=id, generator=generator, group="synthetic_multimodal", task=task, question=question,
                            answer=answer, images=[f"{id}.png"], modality=modality, body_part=None, licence="MIT",
                            provenance_file="data/sources/x", source_ids=source_ids, steps=steps)


def _template(i: int, form: str, answer: str, options: dict | None = None) -> Sample:
    """A vqa_template row: open, yes/no or choice question about the image's modality."""
    if form == "choice":
        question = multiple_choice("Which imaging modality is shown?", options)
        return _synthetic(f"vqa_template:{i}", "vqa_template", "mcq", question, answer,
                          {"form": form, "label": "modality", "options": options, "value": "ct"}, [f"dicom:{i}"])
    question = vqa("Is this a CT scan?", "yes_no") if form == "yes_no" else vqa("How was this image taken?", "open")
    return _synthetic(f"vqa_template:{i}", "vqa_template", "vqa", question, answer,
                      {"form": form, "label": "modality", "value": "ct"}, [f"dicom:{i}"])


def _ocr(source_id: str, gold: str) -> Sample:
    """An ocr page answered offline with the gold letter; its options are only in the image and the source row."""
    return _synthetic(f"ocr:{source_id}", "ocr", "mcq", OCR_QUESTION, gold,
                      {"answer_source": "gold", "gold": gold, "style": {"size": 20}}, [source_id], modality="table")


# --- writing and selecting ----------------------------------------------------------------------------

def _write(tmp_path, samples: list[Sample]) -> tuple[list, list[str]]:
    """Curated rows to tmp/curated (a shard folder per group, as curate writes them), synthetic ones
    (meta.generator) to tmp/synthetic (one file per group, as synthesize writes them)."""
    tables: dict = {}
    for s in samples:
        folder = "synthetic" if "generator" in s.meta else "curated"
        tables.setdefault((folder, s.group), []).append(s.to_row())
    for (folder, group), rows in tables.items():
        name = f"{group}/part-000-00000.parquet" if folder == "curated" else f"{group}.parquet"
        write_parquet(tmp_path / folder / name, rows, ARROW_SCHEMA)
    return [tmp_path / "curated", tmp_path / "synthetic"], sorted({group for _, group in tables})


def _select(dirs, groups, prompt_length=None, **settings):
    """select_prompts with down-sampling and balancing off unless asked for; checks nothing was lost."""
    cfg = SelectionConfig(**(dict(groups=groups, yes_no_share=1.0, balance_ratio=0.0, max_samples=0) | settings))
    lengths = (lambda prompts: [prompt_length(p) for p in prompts]) if prompt_length else None
    selection = select_prompts(dirs, cfg, dirs[0].parent / "cache", lengths)
    assert selection.inputs == len(selection.prompts) + sum(selection.rejected.values())
    return selection


def _select_from(tmp_path, samples, **settings):
    return _select(*_write(tmp_path, samples), **settings)


def _only(selection, id: str):
    [prompt] = [p for p in selection.prompts if p.id == id]
    return prompt


# --- what is verifiable -------------------------------------------------------------------------------

@pytest.mark.parametrize("sample,reason", [
    (_free_text(0, "caption"), "free_text_answer"),
    (_free_text(0, "report"), "free_text_answer"),
    (_vqa(0, answer="The lesion is in the left upper lobe"), "answer_not_short"),
    (_mcq(0, "Which drug?", ["aspirin", "warfarin"], "heparin"), "gold_not_among_options"),
    (_template(0, "choice", "E", {"A": "CT", "B": "MRI"}), "options_unreadable"),
    (Sample("chat:0", "gen", "medical_multimodal", "vqa", qa_turns("Hi", "Hello", 0) + qa_turns("Yes?", "yes", 0)),
     "not_single_turn"),
], ids=["caption", "report", "long_answer", "gold_not_an_option", "synthetic_options_unreadable", "multi_turn"])
def test_unverifiable_rows_are_rejected_with_their_reason(tmp_path, sample, reason):
    selection = _select_from(tmp_path, [sample])
    assert selection.prompts == []
    assert selection.rejected == Counter({reason: 1})


@pytest.mark.parametrize("question,answer,answer_type,kind,template", [
    ("Is there a fracture?", "Yes", "CLOSED", "yes_no", YES_NO),
    ("Which lobe is affected?", "left upper lobe", "CLOSED", "closed", CLOSED),
    ("What organ is shown?", "liver", "OPEN", "open", OPEN),
])
def test_vqa_rows_get_the_evaluation_prompt_of_their_kind(tmp_path, question, answer, answer_type, kind, template):
    selection = _select_from(tmp_path, [_vqa(0, question, answer, answer_type)])
    prompt = _only(selection, "vqa_rad:0")
    assert (prompt.kind, prompt.format, prompt.answer) == (kind, kind, answer)
    assert prompt.prompt == "<image>" + template.format(question=question)
    assert (prompt.modality, prompt.images) == ("x-ray", ["img0.jpg"])


DRUGS = ["aspirin", "warfarin", "heparin", "low molecular weight heparin injection"]


def test_mcq_with_short_correct_option_is_asked_open(tmp_path):
    prompt = _only(_select_from(tmp_path, [_mcq(0, "Which drug is a vitamin K antagonist?", DRUGS, "warfarin")],
                                rewrite_mcq_open=True), "pubmedqa:0")
    assert (prompt.kind, prompt.format, prompt.answer, prompt.options, prompt.rewritten) == \
        ("closed", "closed", "warfarin", {}, True)
    assert prompt.prompt == vqa("Which drug is a vitamin K antagonist?", "closed")


def test_mcq_stays_multiple_choice_without_rewriting(tmp_path):
    prompt = _only(_select_from(tmp_path, [_mcq(0, "Which drug is a vitamin K antagonist?", DRUGS, "warfarin")],
                                rewrite_mcq_open=False), "pubmedqa:0")
    options = dict(zip("ABCD", DRUGS))
    assert (prompt.kind, prompt.format, prompt.answer, prompt.options, prompt.rewritten) == \
        ("mcq", "multiple_choice", "B", options, False)
    # exactly the evaluation's MCQ wording, leading newline included, as the eval runner asks it
    assert prompt.prompt == multiple_choice("Which drug is a vitamin K antagonist?", options)


def test_mcq_with_long_correct_option_is_never_rewritten(tmp_path):
    prompt = _only(_select_from(tmp_path, [_mcq(0, "Which is given by injection?", DRUGS, DRUGS[3])],
                                rewrite_mcq_open=True), "pubmedqa:0")
    assert (prompt.kind, prompt.answer, prompt.rewritten) == ("mcq", "D", False)


@pytest.mark.parametrize("rewrite,kind,answer", [(True, "closed", "maybe"), (False, "mcq", "C")])
def test_yes_no_maybe_options_count_as_yes_no_format(tmp_path, rewrite, kind, answer):
    """PubMedQA: the answer space is yes/no/maybe, so the mixture counts it as yes/no whichever way it is asked;
    its context stays in the prompt."""
    sample = _mcq(0, "Does statin use lower mortality?", ["yes", "no", "maybe"], "maybe", context="An abstract.")
    prompt = _only(_select_from(tmp_path, [sample], rewrite_mcq_open=rewrite), "pubmedqa:0")
    assert (prompt.format, prompt.kind, prompt.answer) == ("yes_no", kind, answer)
    options = {"A": "yes", "B": "no", "C": "maybe"}
    expected = ("Context: An abstract.\n" + vqa("Does statin use lower mortality?", "closed") if rewrite
                else multiple_choice("Does statin use lower mortality?", options, context="An abstract."))
    assert prompt.prompt == expected


def test_synthetic_template_rows_keep_their_wording(tmp_path):
    samples = [_template(0, "open", "CT"), _template(1, "yes_no", "no"),
               _template(2, "choice", "D", {"A": "X-ray", "B": "ultrasound", "C": "MRI", "D": "CT"})]
    selection = _select_from(tmp_path, samples)
    open_, yes_no, choice = (_only(selection, f"vqa_template:{i}") for i in range(3))
    assert (open_.kind, open_.prompt) == ("open", samples[0].conversations[0]["content"])
    assert (yes_no.kind, yes_no.format, yes_no.answer) == ("yes_no", "yes_no", "no")
    assert (choice.kind, choice.answer, choice.rewritten) == ("closed", "CT", True)
    assert choice.prompt == "<image>" + vqa("Which imaging modality is shown?", "closed")


def test_ocr_page_takes_its_options_from_the_source_row(tmp_path):
    source = _mcq(7, "Does statin use lower mortality?", ["yes", "no", "maybe"], "maybe")
    selection = _select_from(tmp_path, [source, _ocr("pubmedqa:7", "C")])
    page = _only(selection, "ocr:pubmedqa:7")
    assert (page.kind, page.format, page.answer) == ("mcq", "multiple_choice", "C")
    assert page.options == {"A": "yes", "B": "no", "C": "maybe"}
    assert page.prompt == "<image>" + OCR_QUESTION


def test_ocr_page_without_its_source_row_is_rejected(tmp_path):
    dirs, _ = _write(tmp_path, [_mcq(7, "Q?", ["yes", "no"], "yes"), _ocr("pubmedqa:7", "A")])
    selection = _select(dirs, ["synthetic_multimodal"])  # the source's group is not searched
    assert selection.rejected == Counter({"source_row_missing": 1})


def test_only_train_rows_are_inputs(tmp_path):
    selection = _select_from(tmp_path, [_vqa(0), _vqa(1, split="test"), _vqa(2, split="validation")])
    assert (selection.inputs, [p.id for p in selection.prompts]) == (1, ["vqa_rad:0"])


# --- the mixture --------------------------------------------------------------------------------------

def _yes_no_and_open(n_yes_no: int, n_open: int) -> list[Sample]:
    return ([_vqa(i, "Is there a fracture?", "yes", "CLOSED") for i in range(n_yes_no)]
            + [_vqa(n_yes_no + i) for i in range(n_open)])


@pytest.mark.parametrize("share,kept", [
    (0.1, 2),    # floor(0.1 / 0.9 x 19) = floor(2.11)
    (0.25, 6),   # floor(0.25 / 0.75 x 19) = floor(6.33)
    (1.0, 10),   # 1 keeps them all
])
def test_yes_no_downsampled_to_target_share(tmp_path, share, kept):
    selection = _select_from(tmp_path, _yes_no_and_open(10, 19), yes_no_share=share)
    formats = Counter(p.format for p in selection.prompts)
    assert formats == Counter({"yes_no": kept, "open": 19})
    assert selection.rejected["yes_no_downsampled"] == 10 - kept
    if share < 1:
        assert kept == math.floor(share / (1 - share) * 19)


@pytest.mark.parametrize("sizes,ratio", [
    ({"x-ray": 10, "ct": 2, "mri": 3}, 2.0),          # median 3: cap 6
    ({"x-ray": 10, "ct": 2, "mri": 3, "oct": 5}, 1.2),  # median 4: cap ceil(4.8) = 5
])
def test_balancing_caps_each_cell_at_ratio_times_median(tmp_path, sizes, ratio):
    samples, i = [], 0
    for modality, n in sizes.items():
        for _ in range(n):
            samples.append(_vqa(i, modality=modality))
            i += 1
    selection = _select_from(tmp_path, samples, balance_ratio=ratio, balance_by=["modality", "format"])
    sorted_sizes = sorted(sizes.values())
    middle = len(sorted_sizes) // 2
    median = sorted_sizes[middle] if len(sorted_sizes) % 2 else (sorted_sizes[middle - 1] + sorted_sizes[middle]) / 2
    cap = math.ceil(ratio * median)
    kept = Counter(p.modality for p in selection.prompts)
    assert kept == Counter({m: min(n, cap) for m, n in sizes.items()})
    assert selection.rejected["balance_cap"] == sum(max(n - cap, 0) for n in sizes.values())


def test_unknown_balance_field_raises(tmp_path):
    with pytest.raises(ValueError, match="organ"):
        _select_from(tmp_path, [_vqa(0)], balance_ratio=2.0, balance_by=["organ"])


def test_long_prompts_are_rejected_not_cut(tmp_path):
    long_question = "What " + "very " * 30 + "large structure is shown?"
    samples = [_vqa(0), _vqa(1, question=long_question), _vqa(2)]
    seen = []

    def words(prompt):
        seen.append(prompt.id)
        return len(prompt.prompt.split())

    selection = _select_from(tmp_path, samples, prompt_length=words, max_prompt_length=20)
    assert [p.id for p in selection.prompts] == ["vqa_rad:0", "vqa_rad:2"]
    assert selection.rejected == Counter({"prompt_too_long": 1})
    assert sorted(seen) == ["vqa_rad:0", "vqa_rad:1", "vqa_rad:2"]


def test_max_samples_caps_and_keeps_order(tmp_path):
    selection = _select_from(tmp_path, [_vqa(i) for i in range(12)], max_samples=5)
    ids = [p.id for p in selection.prompts]
    assert len(ids) == 5 and ids == sorted(ids, key=lambda x: int(x.split(":")[1]))
    assert selection.rejected == Counter({"max_samples": 7})


# --- accounting and determinism -----------------------------------------------------------------------

def _mixed_corpus() -> list[Sample]:
    """Every kind of row at once, so every step of the selection has something to do."""
    return (_yes_no_and_open(8, 10)
            + [_vqa(100 + i, modality="ct") for i in range(3)]
            + [_vqa(200, answer="a long answer of many words"), _vqa(201, split="test"), _free_text(0, "caption")]
            + [_mcq(i, "Does it help?", ["yes", "no", "maybe"], "no") for i in range(4)]
            + [_template(300, "open", "CT"), _ocr("pubmedqa:0", "B"), _ocr("pubmedqa:missing", "A")])


MIXED = dict(yes_no_share=0.2, balance_ratio=1.0, max_samples=6)


def test_every_input_is_kept_or_rejected_with_a_reason(tmp_path):
    selection = _select_from(tmp_path, _mixed_corpus(), prompt_length=lambda p: len(p.prompt), max_prompt_length=10_000,
                             **MIXED)
    assert selection.inputs == len(_mixed_corpus()) - 1  # the test-split row is not an input
    assert set(selection.rejected) == {"answer_not_short", "free_text_answer", "source_row_missing",
                                       "yes_no_downsampled", "balance_cap", "max_samples"}
    metrics = selection.metrics()
    rejected = sum(v for k, v in metrics.items() if k.startswith("selection/rejected/"))
    assert metrics["selection/inputs"] == metrics["selection/kept"] + rejected
    assert sum(row["samples"] for row in selection.composition()) == len(selection.prompts) == 6


def test_same_seed_same_selection_other_seeds_differ(tmp_path):
    dirs, groups = _write(tmp_path, _mixed_corpus())

    def ids(seed):
        return tuple(p.id for p in _select(dirs, groups, seed=seed, **MIXED).prompts)

    assert ids(0) == ids(0)
    assert len({ids(seed) for seed in range(6)}) > 1
