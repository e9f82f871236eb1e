"""Image controls: the same questions asked again with black images of the same size, or without images,
recorded and resumed like the main run, and compared question by question (real − control)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

import lingshu.eval.loaders  # noqa: F401
from lingshu.eval.benchmark import discover
from lingshu.eval.controls import control_items, parse_controls
from lingshu.eval.runner import read_predictions
from lingshu.eval.suite import SuiteRun, evaluate_suite, flat_metrics


class LookingBackend:
    """Answers a question right only when it can see something: a non-black pixel in one of its images.

    A stand-in for a model that uses its images, so that what the controls measure is known exactly:
    with real images every answer is right, with black ones or none every answer is wrong."""

    def __init__(self, answers: dict[str, str]):
        self.answers, self.seen = answers, []

    def generate(self, requests):
        out = []
        for request in requests:
            text = request.content[-1]["text"]  # the question comes after the images
            self.seen.append((text, [Path(p) for p in request.images]))
            sees = any(Image.open(p).convert("L").getextrema()[1] > 0 for p in request.images)
            out.append(self.answers[text] if sees else "unsure")
        return out

    def prompt_length(self, request):
        return 1


def _items(repo, n=12):
    bench = discover()["vqa_rad"]
    return bench, bench.items(repo, n)


def test_blank_images_keep_each_images_size_and_text_only_drops_them(repo, tmp_path):
    _, items = _items(repo, 6)
    blank = control_items(items, "blank_image", tmp_path)
    assert [i.id for i in blank] == [i.id for i in items]
    for real, control in zip(items, blank):
        (original,), (black,) = real.images, control.images
        with Image.open(original) as a, Image.open(black) as b:
            assert a.size == b.size and b.convert("L").getextrema() == (0, 0)
    assert all(i.images == [] for i in control_items(items, "text_only", tmp_path))
    text = [replace(items[0], images=[])]
    assert control_items(text, "blank_image", tmp_path) == []  # nothing to control on a text question


def test_control_names_accept_the_cli_spelling_and_refuse_unknown_ones():
    assert parse_controls("blank-image,text-only") == ["blank_image", "text_only"]
    assert parse_controls(["blank_image", "blank-image"]) == ["blank_image"]
    with pytest.raises(ValueError, match="unknown image control.*colour_swap.*known: blank-image, text-only"):
        parse_controls("colour-swap")


def _answer_key(bench, items):
    from lingshu.eval.runner import build_prompt

    return {build_prompt(bench, i, "strict")[1]: i.answer for i in items}


def test_real_minus_blank_is_paired_on_the_same_questions_and_resumes(repo, tmp_path):
    bench, items = _items(repo)
    backend = LookingBackend(_answer_key(bench, items))
    run = SuiteRun(root=repo, limit=12, controls=["blank_image", "text_only"], batch_size=5)
    results, suite = evaluate_suite([bench], backend, tmp_path, run)
    (result,) = results
    assert result["score"] == 100.0
    for control in ("blank_image", "text_only"):
        c = result["controls"][control]
        assert c["score"] == 0.0 and c["n"] == 12
        assert c["real_minus_control"]["delta"] == 100.0 and c["real_minus_control"]["significant"]
        records = read_predictions(tmp_path / "vqa_rad" / control / "predictions.jsonl")
        assert sorted(records) == sorted(i.id for i in items)  # every answer recorded, like the main run's
        assert json.loads((tmp_path / "vqa_rad" / control / "metrics.json").read_text())["score"] == 0.0
    assert suite["benchmarks"]["vqa_rad"]["controls"]["blank_image"]["real_minus_control"]["delta"] == 100.0
    flat = flat_metrics(results, suite)
    assert flat["vqa_rad/blank_image/real_minus_control"] == 100.0 and flat["vqa_rad/accuracy"] == 100.0
    asked = len(backend.seen)
    assert asked == 36  # 12 real + 12 blank + 12 text-only
    evaluate_suite([bench], backend, tmp_path, run)
    assert len(backend.seen) == asked  # a rerun resumes every file: nothing is asked twice


def test_a_text_benchmark_gets_no_control(repo, tmp_path):
    bench = discover()["medqa"]
    items = bench.items(repo, 3)
    backend = LookingBackend(_answer_key(bench, items))
    (result,), _ = evaluate_suite([bench], backend, tmp_path, SuiteRun(root=repo, limit=3, controls=["blank_image"]))
    assert "controls" not in result and not (tmp_path / "medqa" / "blank_image").exists()
