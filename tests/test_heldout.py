"""Held-out VQA in training is the evaluation: same prompts, chat template, decoding and scorer."""

from __future__ import annotations

from dataclasses import replace

import lingshu.eval.loaders  # noqa: F401
from lingshu.eval.backends.hf import HFBackend
from lingshu.eval.benchmark import Benchmark
from lingshu.eval.controls import control_items
from lingshu.eval.runner import generate, predictions_file, score_file
from lingshu.model.factory import load_model, load_processor
from lingshu.train.chat import image_stores
from lingshu.train.config import CommonTrainConfig, HeldoutConfig
from lingshu.train.heldout import HELDOUT, answered, measure_heldout, vqa_items, vqa_scores
from lingshu.train.tables import group_rows


def test_heldout_answers_are_the_evaluations_answers(mini_repo, tmp_path):
    common = CommonTrainConfig(synthetic_dir="", heldout=HeldoutConfig(max_new_tokens=6, batch_size=4))
    rows = list(group_rows(common.table_dirs(mini_repo), "medical_multimodal", common.cache_dir(mini_repo), split="test"))
    items = vqa_items(rows, image_stores(common, mini_repo), tmp_path / "images")
    image_items = items[:4]
    model, processor = load_model(mini_repo / "models/base"), load_processor(mini_repo / "models/base")
    real, blank = answered(model, processor, items, image_items, common.heldout)

    bench = Benchmark(**HELDOUT)  # the same items through `lingshu eval`'s path: a saved model, its own backend
    saved = HFBackend(str(mini_repo / "models/base"), max_new_tokens=6)
    asked = score_file(generate(bench, items, saved, predictions_file(tmp_path, "eval"), "strict", 4), "strict")[0]
    controlled = control_items(image_items, "blank_image", tmp_path / "blank")
    asked_blank = score_file(generate(bench, controlled, saved, predictions_file(tmp_path, "blank"), "strict", 4),
                             "strict")[0]
    assert len(items) == 10 and len({r["response"] for r in asked}) > 1  # a random model's answers still differ
    assert {k: (r["prompt"], r["response"], r["correct"]) for k, r in real.items()} == \
        {r["id"]: (r["prompt"], r["response"], r["correct"]) for r in asked}
    assert [r["response"] for r in blank] == [r["response"] for r in asked_blank]

    metrics = measure_heldout(model, processor, replace(common, heldout=replace(common.heldout, max_caption_samples=2)),
                              mini_repo, vqa=True)
    assert metrics["vqa/accuracy"] == sum(r["correct"] for r in asked) / len(asked)
    assert metrics["vqa/n"] == 10 and "vqa_image_types/blank_images" in metrics


def test_baselines_are_scored_like_answers():
    from lingshu.eval.benchmark import EvalItem

    train = [{"meta": {"question": "Is there a mass?", "answer": "No", "answer_type": "CLOSED"}},
             {"meta": {"question": "Is there a mass here?", "answer": "no", "answer_type": "CLOSED"}},
             {"meta": {"question": "What organ is shown?", "answer": "The liver.", "answer_type": "OPEN"}}]
    items = [EvalItem("a", "Is there a mass?", "no", answer_type="CLOSED"),
             EvalItem("b", "What organ is this?", "kidney", answer_type="OPEN")]
    real = {"a": {"correct": True}, "b": {"correct": False}}
    scores = vqa_scores(train, items, items[:1], real, [{"correct": False}])
    assert scores["vqa/baseline_majority_closed"] == 1.0  # "no" answers the closed question
    assert scores["vqa/baseline_question_prefix"] == 0.5  # "is there a" -> "no" (right); "what organ is" -> "liver"
    assert (scores["vqa_image_types/real_images"], scores["vqa_image_types/blank_images"]) == (1.0, 0.0)
