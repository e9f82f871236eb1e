"""GRPO end to end on the tiny model: it learns a verifiable task, and a killed run resumes exactly.

The learning check is a task only the image can answer: solid red or blue images asked "What colour
is this image?". The starting policy is fine-tuned on the same question with answers drawn at random,
so it says red or blue but independently of the image (reward ~0.5). Only by learning to look can RL
raise the reward; a broken advantage sign, loss or optimiser step leaves it at chance.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import make_stage_cfg, run_and_kill
from PIL import Image

from lingshu.data.store import ImageStore
from lingshu.rl.config import RLConfig, SelectionConfig
from lingshu.rl.run import fit_rl
from lingshu.train.config import CommonTrainConfig

COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200)}
QUESTION = "What colour is this image?"


def _colour_rows(store: ImageStore, group: str, n: int, random_answers: bool, rng: random.Random) -> list[dict]:
    from lingshu.data.schema import Sample
    from lingshu.data.sources.common import qa_turns

    rows = []
    for i in range(n):
        colour = rng.choice(sorted(COLOURS))
        said = rng.choice(sorted(COLOURS)) if random_answers else colour
        pixels = np.array(COLOURS[colour])[None, None] + np.random.default_rng(i).normal(0, 20, (56, 56, 3))
        key = f"{group}_{i}.png"
        encoded = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(encoded, format="PNG")
        store.stage(key, encoded.getvalue())
        prompt = f"{QUESTION}\nAnswer the question using a single word or phrase."
        rows.append(Sample(f"{group}:{i}", "colours", group, "vqa", qa_turns(prompt, said, 1), [key], modality="photo",
                           meta={"question": QUESTION, "answer": said, "answer_type": "CLOSED"}).to_row())
    return rows


@pytest.fixture(scope="module")
def colour_repo(tmp_path_factory) -> Path:
    """Colour questions (random answers for the prior, true ones for RL) and a tiny model fine-tuned on the prior."""
    from tests.conftest import TINY

    from lingshu.data.schema import ARROW_SCHEMA
    from lingshu.io import write_parquet
    from lingshu.model.config import ModelConfig, TinyConfig
    from lingshu.model.factory import initialise, save
    from lingshu.train.config import LearningRates
    from lingshu.train.run import fit_stage

    root = tmp_path_factory.mktemp("colours")
    store = ImageStore(root / "data/images")
    rng = random.Random(0)
    for group, random_answers in (("general_multimodal", True), ("medical_multimodal", False)):
        write_parquet(root / f"data/curated/{group}/part-000-00000.parquet", _colour_rows(store, group, 64, random_answers, rng),
                      ARROW_SCHEMA)
    store.pack(store.staged())
    model, processor = initialise(ModelConfig(tiny=TinyConfig(**TINY)), root)
    save(model, processor, root / "models/base")
    prior = make_stage_cfg(checkpoint_dir="checkpoints/prior", groups={"general_multimodal": 1}, batch_size=8,
                           max_length=128, epochs=20, checkpoint_every=1000,
                           lr=LearningRates(vision=3e-3, projector=3e-3, language_model=3e-3))
    fit_stage(CommonTrainConfig(synthetic_dir=""), prior, root, root / "models/instruct", progress=False)  # RL's start
    return root


def _rl_cfg(**overrides) -> RLConfig:
    base = dict(init_from="instruct", checkpoint_dir="checkpoints/rl",
                selection=SelectionConfig(groups=["medical_multimodal"], yes_no_share=1.0, balance_ratio=0, max_samples=0),
                warmup_steps=0,
                reward_funcs=["accuracy"], reward_weights=[1.0], num_generations=4, per_device_train_batch_size=16,
                max_completion_length=4, learning_rate=1e-3, beta=0.0, epochs=100, checkpoint_every=1000,
                evaluate_vqa=False, log_completions=False)
    return RLConfig(**(base | overrides))


def test_reward_rises_from_chance_when_rl_teaches_the_model_to_look(colour_repo):
    module, selection = fit_rl(CommonTrainConfig(synthetic_dir=""), _rl_cfg(max_steps=300), colour_repo,
                               colour_repo / "models/rl", progress=False)
    assert len(selection.prompts) == 64 and {p.kind for p in selection.prompts} == {"closed"}
    rewards = [row["reward"] for row in module.history]
    first, last = sum(rewards[:20]) / 20, sum(rewards[-50:]) / 50
    assert 0.3 < first < 0.7, f"the prior should answer at chance, got {first:.2f}"
    assert last > 0.9 and last - first > 0.3, f"reward {first:.2f} -> {last:.2f}"


def test_killed_rl_run_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_run(colour_repo, tmp_path):
    fields = dict(max_steps=6, checkpoint_every=2, beta=0.01, num_iterations=2, checkpoint_dir=str(tmp_path / "ck"))
    run = run_and_kill(colour_repo, _rl_cfg(**fields), tmp_path / "resumed", at_step=4, fit="lingshu.rl.run:fit_rl",
                       common=CommonTrainConfig(synthetic_dir=""))
    assert run.returncode == -9, run.stderr[-2000:]
    assert (tmp_path / "ck" / "last.ckpt").exists() and not (tmp_path / "resumed").exists()

    resumed, _ = fit_rl(CommonTrainConfig(synthetic_dir=""), _rl_cfg(**fields), colour_repo, tmp_path / "resumed",
                        progress=False)
    assert [row["step"] for row in resumed.history] == [2, 4, 6]  # two optimiser steps per rollout (num_iterations=2)
    assert not (tmp_path / "ck").exists(), "a finished run leaves nothing to resume"

    straight_fields = fields | {"checkpoint_dir": str(tmp_path / "ck2")}
    straight, _ = fit_rl(CommonTrainConfig(synthetic_dir=""), _rl_cfg(**straight_fields), colour_repo,
                         tmp_path / "straight", progress=False)
    assert [row["reward"] for row in resumed.history] == [row["reward"] for row in straight.history]
    assert resumed.history[-1]["kl"] == pytest.approx(straight.history[-1]["kl"], rel=1e-4)
    for (name, a), (_, b) in zip(resumed.model.state_dict().items(), straight.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_ballast_row_runs_the_vision_encoder_without_changing_any_completions_log_probs(mini_repo):
    """With several processes an image-less batch carries a blank-image prompt (lingshu/rl/rollout.py); the
    real rows' log-probabilities must be exactly those computed without it."""
    from lingshu.model.factory import load_model, load_processor
    from lingshu.rl.rollout import completion_logps, sample
    from lingshu.train.chat import encode
    from lingshu.train.datamodule import blank_image_row

    model, processor = load_model(mini_repo / "models/base"), load_processor(mini_repo / "models/base")
    prompts = [encode([{"role": "user", "content": f"What is {i} plus {i}?"}], [], processor, 256, generation_prompt=True)
               for i in range(2)]
    ballast = blank_image_row(processor, 256)[0]
    torch.manual_seed(0)
    rollout = sample(model, processor, prompts, 2, temperature=1.0, top_p=1.0, top_k=0, max_completion_length=5)
    assert rollout.ballast is None and len(rollout) == 4
    calls = []
    model.model.visual.register_forward_hook(lambda *_: calls.append(1))
    rows = [0, 1, 2, 3]
    plain = completion_logps(model, rollout, rows, processor.image_token_id, 1.0)
    assert calls == []
    rollout.ballast = ballast
    with_ballast = completion_logps(model, rollout, rows, processor.image_token_id, 1.0)
    assert calls == [1] and with_ballast.shape == plain.shape
    assert torch.allclose(plain, with_ballast, atol=1e-5)
