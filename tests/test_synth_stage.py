"""The synthesize stage end to end: offline, against a real chat-completions server, resumed, and validated.

The corpus (tests/test_synth_generators.py) fixes every label; the server's `FakeClinician` answers each
prompt kind the way a plausible LLM would and gets a few deliberately wrong, so every expected rejection
and every accepted sample can be named in advance. Token counts and costs are checked against what the
server itself reported, and reruns against what it received.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from chat_server import ChatServer, texts, usage_in_words
from omegaconf import OmegaConf
from test_synth_generators import REPO, Corpus, display, synth_config, write_synth_corpus

from lingshu.checks.run import run_checks
from lingshu.checks.suites import describe_failures
from lingshu.config import CurateConfig, ValidateConfig, load_section
from lingshu.data.schema import ARROW_SCHEMA
from lingshu.data.store import ImageStore
from lingshu.io import write_parquet
from lingshu.synth.run import synthesize

TABLES = ("medical_caption", "synthetic_multimodal", "medical_cot", "rejected")
LLM_GENERATORS = ("long_caption", "vqa_self_instruct", "cot")
PRICE = {"input": 1000.0, "output": 3000.0}   # USD per million tokens; large, so rounding cannot hide an error
GENERATOR_OF = {"factual": "long_caption", "checklist": "long_caption", "merge": "long_caption",
                "self_instruct": "vqa_self_instruct", "ocr": "ocr", "cot_write": "cot", "cot_judge": "cot"}

# the deliberate failures, by the image or question they concern
CONTRADICTED = "synpic46720.jpg"      # factual step says MRI (true), checklist step says CT
OVERRIDDEN = "synpic51426.jpg"        # the merge step turns the known CT into an MRI
MALFORMED = "synpic47783.jpg"         # self-instruct reply is not JSON
DISAGREES = "synpic33378.jpg"         # self-instruct reply reports image and caption disagree
WRONG_LETTER = "pubmedqa:4"           # the reasoning ends on another letter than the gold one
INCONSISTENT = "pubmedqa:2"           # the judge finds the reasoning inconsistent
# the OCR reader always answers A: right for "yes" questions, a mismatch for pubmedqa:3 ("no")


@pytest.fixture
def corpus(tmp_path) -> Corpus:
    return write_synth_corpus(tmp_path)


def kind_of(prompt: str) -> str:
    """Which prompt of synth_templates/prompts.yaml (or which generator) a request carries."""
    for kind, marker in (("factual", "You describe a medical image for a training corpus"),
                         ("checklist", "as a clinician would, covering each item of the checklist"),
                         ("merge", "Merge two descriptions of the same medical image"),
                         ("self_instruct", "Here is a medical image and its caption"),
                         ("ocr", "The image shows an exam question with options"),
                         ("cot_write", "Explain step by step why"),
                         ("cot_judge", "Is the reasoning consistent with the correct answer")):
        if marker in prompt:
            return kind
    raise AssertionError(f"unexpected prompt {prompt[:80]!r}")


class FakeClinician:
    """answer(body) for ChatServer: a plausible LLM per prompt kind, wrong where the test wants it to be."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.by_hash = {hashlib.sha256(ImageStore(corpus.root / "images").read(name)).hexdigest(): name
                        for name in corpus.images}
        self.by_question = {m.question: m for m in corpus.mcqs.values()}
        self.lock = threading.Lock()
        self.usage: list[tuple[str, dict]] = []   # (prompt kind, the usage the server reports)

    def image(self, body: dict) -> str | None:
        parts = [p for m in body["messages"] if not isinstance(m["content"], str) for p in m["content"]
                 if p["type"] == "image_url"]
        if not parts:
            return None
        data = base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1])
        return self.by_hash.get(hashlib.sha256(data).hexdigest(), "rendered page")

    def __call__(self, body: dict) -> str:
        prompt = texts(body["messages"][-1])[-1]
        kind = kind_of(prompt)
        reply = getattr(self, kind)(prompt, self.image(body))
        with self.lock:
            self.usage.append((kind, usage_in_words(body, reply)))
        return reply

    def factual(self, prompt, image):
        facts = dict(re.findall(r"^\s*(modality|body part|plane): (.+)$", prompt, re.MULTILINE))
        plane = f"{display('plane', facts['plane'])} " if "plane" in facts else ""
        return (f"This is a {plane}{display('modality', facts['modality'])} image of the "
                f"{display('body_part', facts['body part'])}. The structures shown are symmetric and no acute "
                f"abnormality is visible in the region of interest.")

    def checklist(self, prompt, image):
        name = re.search(r"Describe this (.+?) image as a clinician would", prompt).group(1)
        if image == CONTRADICTED:
            name = "CT"
        return f"This {name} image shows normal anatomy for the region; no mass effect, fluid or implants are seen."

    def merge(self, prompt, image):
        factual = re.search(r"FACTUAL: (.*)", prompt).group(1)
        checklist = re.search(r"CHECKLIST: (.*)", prompt).group(1)
        caption = f"{factual} {checklist}"
        if "coronal" in factual:   # only OVERRIDDEN's facts name the coronal plane
            caption = caption.replace("CT", "MRI")
        return json.dumps({"caption": caption, "contradiction": False})

    def self_instruct(self, prompt, image):
        if image == MALFORMED:
            return '{"question": "What is shown?", "answer": "the chest", "wrong_answers": ["the hand",]'
        if image == DISAGREES:
            return '{"error": "the caption describes a CT but the image is a radiograph"}'
        caption = prompt.split("its caption:", 1)[1].split("\n", 1)[0].strip()
        return json.dumps({"question": "Which description fits this image?", "answer": caption,
                           "wrong_answers": ["A photograph of a skin lesion", "A fundus photograph"]})

    def ocr(self, prompt, image):
        assert image == "rendered page", "OCR prompts show the rendered question, not a curated image"
        return "The question asks whether the treatment helps; the study supports it.\nAnswer: A"

    def cot_write(self, prompt, image):
        item = self.by_question[re.search(r"Question: (.+)", prompt).group(1)]
        letter = re.search(r'a line "Answer: ([A-Z])"', prompt).group(1)
        assert letter == item.gold, "the writer is told the gold letter"
        if item.id == WRONG_LETTER:
            letter = "C" if letter != "C" else "B"
        return f"The cohort was followed for years and the effect held in adults.\nAnswer: {letter}"

    def cot_judge(self, prompt, image):
        item = self.by_question[re.search(r"Question: (.+)", prompt).group(1)]
        return "inconsistent" if item.id == INCONSISTENT else "consistent"


def llm_config(url: str, **llm):
    cfg = synth_config(prices={"test-model": PRICE})
    return replace(cfg, llm=replace(cfg.llm, base_url=url, model="test-model", concurrency=4, retries=0,
                                    backoff=0.01, timeout=20, **llm))


def tables(root: Path, cfg) -> dict[str, list[dict]]:
    out = root / cfg.output_dir
    return {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in TABLES}


def outcomes(rejected: list[dict], corpus: Corpus) -> set[tuple[str, str, str]]:
    """(generator, reason, what it concerned: image name or MCQ id) for every rejected row."""
    out = set()
    for row in rejected:
        ids = row["source_ids"]
        what = ids[0] if ids[0] in corpus.mcqs else corpus.image_of_ids(ids)
        out.add((row["generator"], row["reason"], what))
    return out


def accepted(rows: list[dict], corpus: Corpus, generator: str) -> list[str]:
    """What each accepted sample of a generator was made from (image name or MCQ id), sorted."""
    out = []
    for row in rows:
        meta = json.loads(row["meta"])
        if meta["generator"] == generator:
            ids = meta["source_ids"]
            out.append(ids[0] if ids[0] in corpus.mcqs else corpus.image_of_ids(ids))
    return sorted(out)


def assert_accounting(metrics: dict, out: dict[str, list[dict]]) -> None:
    """attempts = accepted + rejected per generator, in the metrics and recounted from the tables."""
    rows = [json.loads(r["meta"])["generator"] for t in TABLES[:3] for r in out[t]]
    for name, summary in metrics["generators"].items():
        assert summary["attempts"] == summary["accepted"] + summary["rejected"], name
        assert summary["accepted"] == rows.count(name), name
        assert summary["rejected"] == sum(r["generator"] == name for r in out["rejected"]), name


# --- offline ---------------------------------------------------------------------------------------------------


def test_offline_run_makes_template_vqa_and_ocr_and_says_why_llm_steps_were_skipped(corpus):
    cfg = synth_config()
    metrics, samples, rejected = synthesize(cfg, corpus.root)
    out = tables(corpus.root, cfg)
    assert (corpus.root / cfg.metrics_file).is_file() and (corpus.root / cfg.plots_dir / "gallery.png").is_file()
    assert json.loads((corpus.root / cfg.metrics_file).read_text()) == metrics
    assert out["medical_caption"] == [] and out["medical_cot"] == []
    assert len(out["synthetic_multimodal"]) == len(samples) > 0
    gens = metrics["generators"]
    for name in LLM_GENERATORS:
        reason = metrics["skipped"][name]
        assert "synthesize.llm.base_url" in reason and "synthesize.llm.model" in reason, reason
    assert gens["vqa_self_instruct"]["status"] == gens["cot"]["status"] == "skipped"
    assert gens["vqa_self_instruct"]["attempts"] == gens["cot"]["attempts"] == 0
    assert gens["long_caption"]["accepted"] == 0
    assert metrics["totals"]["llm_calls"] == 0 and metrics["totals"]["cost_usd"] == 0
    # template VQA: every candidate of every labelled train image (questions_per_image: 0), none about the
    # test image: per label open, choice and either-or, and a yes and a no per distractor (a lone yes without any)
    def candidates(image) -> int:
        sizes = [min(3, len(corpus.space(image.source, kind)) - 1)
                 for kind in ("modality", "body_part", "plane") if getattr(image, kind)]
        return sum(3 + 2 * d if d else 2 for d in sizes)

    labelled = [i for i in corpus.train_images() if i.modality or i.body_part or i.plane]
    assert Counter(accepted(out["synthetic_multimodal"], corpus, "vqa_template")) == {
        i.name: candidates(i) for i in labelled}
    # OCR without a model: every usable train question rendered, answered with its gold letter
    ocr_rows = [r for r in out["synthetic_multimodal"] if r["source"] == "ocr"]
    usable = {m.id: m.gold for m in corpus.mcqs.values() if m.split == "train" and m.gold}
    assert {json.loads(r["meta"])["source_ids"][0]: r["conversations"][-1]["content"] for r in ocr_rows} == usable
    for row in ocr_rows:
        assert row["images"][0] in ImageStore(corpus.root / cfg.output_dir / "images")
    assert outcomes(out["rejected"], corpus) == {("long_caption", "no_metadata", "synpic45544.jpg"),
                                                 ("ocr", "gold_not_among_options", "pubmedqa:6")}
    assert all(r["reason"] and r["step"] for r in out["rejected"])
    assert_accounting(metrics, out)


# --- with an LLM endpoint --------------------------------------------------------------------------------------


EXPECTED_REJECTIONS = {
    ("long_caption", "no_metadata", "synpic45544.jpg"),
    ("long_caption", "contradiction", CONTRADICTED),
    ("long_caption", "facts_overridden", OVERRIDDEN),
    ("vqa_self_instruct", "malformed_json", MALFORMED),
    ("vqa_self_instruct", "image_caption_disagree", DISAGREES),
    ("ocr", "answer_mismatch", "pubmedqa:3"),
    ("ocr", "gold_not_among_options", "pubmedqa:6"),
    ("cot", "gold_not_among_options", "pubmedqa:6"),
    ("cot", "answer_mismatch", WRONG_LETTER),
    ("cot", "inconsistent", INCONSISTENT),
}
DESCRIBED = ["synpic59536.jpg", "synpic46720.jpg", "synpic47783.jpg", "synpic33378.jpg", "synpic51426.jpg",
             "synpic38069.jpg", "synpic39240.jpg"]   # train images with a short caption
# six captions reach the merge step, but the two PA chest X-rays have the same facts, hence the same merge
# prompt (it shows no image): that one is asked once and its completion serves both
EXPECTED_REQUESTS = {"factual": 7, "checklist": 7, "merge": 5, "self_instruct": 7, "ocr": 4, "cot_write": 4,
                     "cot_judge": 3}


def test_llm_run_accepts_good_replies_rejects_bad_ones_and_a_rerun_costs_nothing(corpus):
    fake = FakeClinician(corpus)
    with ChatServer(fake) as server:
        cfg = llm_config(server.url)
        metrics, _, _ = synthesize(cfg, corpus.root)
        assert server.errors == []
        first = tables(corpus.root, cfg)
        assert Counter(kind for kind, _ in fake.usage) == EXPECTED_REQUESTS
        assert outcomes(first["rejected"], corpus) == EXPECTED_REJECTIONS
        assert len(first["rejected"]) == len(EXPECTED_REJECTIONS)
        good_captions = sorted(set(DESCRIBED) - {CONTRADICTED, OVERRIDDEN})
        assert accepted(first["medical_caption"], corpus, "long_caption") == good_captions
        assert accepted(first["synthetic_multimodal"], corpus, "vqa_self_instruct") == sorted(
            set(DESCRIBED) - {MALFORMED, DISAGREES})
        assert accepted(first["synthetic_multimodal"], corpus, "ocr") == ["pubmedqa:1", "pubmedqa:2", "pubmedqa:4"]
        assert accepted(first["medical_cot"], corpus, "cot") == ["pubmedqa:1", "pubmedqa:3"]
        for row in first["medical_caption"]:
            caption = row["conversations"][-1]["content"]
            image = corpus.images[row["images"][0]]
            assert display("modality", image.modality) in caption and "no acute abnormality" in caption
        for row in first["medical_cot"]:
            gold = corpus.mcqs[json.loads(row["meta"])["source_ids"][0]].gold
            assert row["conversations"][-1]["content"].endswith(f"Answer: {gold}") and row["images"] == []
        for row in first["synthetic_multimodal"]:
            if row["source"] == "vqa_self_instruct":
                user, answer = row["conversations"][0]["content"], row["conversations"][1]["content"]
                caption = corpus.images[row["images"][0]].caption or "of the"
                assert caption in re.search(rf"^{answer}\. (.*)$", user, re.MULTILINE).group(1)
        assert_accounting(metrics, first)
        # tokens and cost: what the server reported, per generator, priced per million
        for name in GENERATOR_OF.values():
            used = [u for kind, u in fake.usage if GENERATOR_OF[kind] == name]
            tokens_in, tokens_out = sum(u["prompt_tokens"] for u in used), sum(u["completion_tokens"] for u in used)
            summary = metrics["generators"][name]
            assert (summary["tokens_in"], summary["tokens_out"]) == (tokens_in, tokens_out), name
            assert summary["llm_calls"] - summary["llm_cached_calls"] == len(used), name
            assert summary["cost_usd"] == pytest.approx((tokens_in * PRICE["input"] + tokens_out * PRICE["output"])
                                                        / 1e6, abs=2e-6), name
        total_in = sum(u["prompt_tokens"] for _, u in fake.usage)
        assert metrics["totals"]["tokens_in"] == total_in > 0 and metrics["totals"]["cost_usd"] > 0
        calls = server.calls

        again, _, _ = synthesize(cfg, corpus.root)
        assert server.calls == calls, "the rerun asked the server nothing"
    assert tables(corpus.root, cfg) == first
    assert again["totals"]["cost_usd"] == 0 and again["totals"]["tokens_in"] == again["totals"]["tokens_out"] == 0
    assert again["totals"]["llm_cached_calls"] == again["totals"]["llm_calls"] == metrics["totals"]["llm_calls"]
    assert {n: s["accepted"] for n, s in again["generators"].items()} == \
        {n: s["accepted"] for n, s in metrics["generators"].items()}


def test_a_run_cut_off_by_503s_is_resumed_asking_only_for_what_is_missing(corpus):
    answered = 6

    def canonical(bodies):
        return {json.dumps(b, sort_keys=True) for b in bodies}

    with ChatServer(FakeClinician(corpus)) as failing:
        failing.script, failing.always = [None] * answered, 503
        cfg = llm_config(failing.url)
        metrics, _, _ = synthesize(cfg, corpus.root)
        interrupted = tables(corpus.root, cfg)
    assert len(failing.bodies) == answered and failing.calls > answered
    assert_accounting(metrics, interrupted)
    errors = [r for r in interrupted["rejected"] if r["reason"] == "llm_error"]
    assert errors and all("503" in r["detail"] for r in errors)
    assert {r["generator"] for r in errors} == {"long_caption", "vqa_self_instruct", "ocr", "cot"}

    with ChatServer(FakeClinician(corpus)) as healthy:
        metrics, _, _ = synthesize(replace(cfg, llm=replace(cfg.llm, base_url=healthy.url)), corpus.root)
        resumed = tables(corpus.root, cfg)
    assert healthy.errors == [] and healthy.calls == len(healthy.bodies)
    assert not canonical(healthy.bodies) & canonical(failing.bodies), "nothing answered before is asked again"
    assert metrics["totals"]["llm_cached_calls"] >= answered
    assert outcomes(resumed["rejected"], corpus) == EXPECTED_REJECTIONS, "only the deliberate failures are left"

    with ChatServer(FakeClinician(corpus)) as fresh:   # the same run, never interrupted, on an empty cache
        uncut = replace(cfg, output_dir="uncut", metrics_file="metrics/uncut.json", plots_dir="plots_uncut",
                        llm=replace(cfg.llm, base_url=fresh.url, cache_dir="cache/uncut"))
        synthesize(uncut, corpus.root)
    assert healthy.calls + answered == fresh.calls == sum(EXPECTED_REQUESTS.values())
    assert canonical(healthy.bodies) | canonical(failing.bodies) == canonical(fresh.bodies)
    assert resumed == tables(corpus.root, uncut)


# --- the synthetic-data expectation suites -----------------------------------------------------------------------


def test_gx_suites_pass_on_offline_outputs_and_fail_on_broken_ones(corpus):
    root = corpus.root
    cfg = synth_config()
    synthesize(cfg, root)
    params = root / "params.yaml"
    params.write_text(OmegaConf.to_yaml(OmegaConf.create({"synthesize": cfg})))
    assert load_section("synthesize", params) == cfg
    curate = CurateConfig(output_dir="curated", image_store="images", sources=[], benchmarks=[], source_priority=[])
    validate = ValidateConfig(suites_dir=str(REPO / "data_checks"), synthetic_results_dir="results")

    def check():
        return {o.suite: o for o in run_checks(curate, validate, root, "synthetic", params)}

    good = check()
    assert set(good) == {"synthetic", "synthetic_rejected", "synthetic_conservation"}
    assert all(o.success for o in good.values()), describe_failures(list(good.values()))
    assert (root / "results" / "synthetic.json").is_file()
    with ChatServer(FakeClinician(corpus)) as server:   # long captions and reasoning pass the same gate
        with_llm = llm_config(server.url)
        synthesize(with_llm, root)
    params.write_text(OmegaConf.to_yaml(OmegaConf.create({"synthesize": with_llm})))
    good = check()
    assert all(o.success for o in good.values()), describe_failures(list(good.values()))
    assert len(pq.read_table(root / cfg.output_dir / "medical_caption.parquet")) > 0

    path = root / cfg.output_dir / "synthetic_multimodal.parquet"
    rows = pq.read_table(path).to_pylist()
    test_row = corpus.images["synpic42951.jpg"].row_ids[0]
    unresolved = dict(rows[0], images=["0" * 64 + ".png"])
    leaked = dict(rows[1], meta=json.dumps(json.loads(rows[1]["meta"]) | {"source_ids": [test_row]}))
    write_parquet(path, [unresolved, leaked, *rows[2:]], ARROW_SCHEMA)
    broken = check()["synthetic"]
    failed = {f["kwargs"].get("column"): f for f in broken.failed}
    assert not broken.success and set(failed) == {"images_resolve", "sources_are_train"}
    assert failed["images_resolve"]["examples"][0]["id"] == rows[0]["id"]
    assert failed["sources_are_train"]["examples"][0]["id"] == rows[1]["id"]

    write_parquet(path, rows[1:], ARROW_SCHEMA)   # a lost row: the stage's metrics no longer add up
    conservation = check()["synthetic_conservation"]
    assert not conservation.success and conservation.failed[0]["examples"]
