"""Supervised training: label masking, collation, packing, freezing after a real step, learning, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.conftest import run_and_kill
from PIL import Image

from lingshu.model.config import Trainable
from lingshu.model.factory import load_model, load_processor
from lingshu.model.freezing import parameters_by_module
from lingshu.train.chat import IGNORE, encode
from lingshu.train.config import CommonTrainConfig
from lingshu.train.datamodule import collate
from lingshu.train.module import StageModule, labelled_loss, model_inputs
from lingshu.train.packing import first_fit_decreasing
from lingshu.train.run import fit_stage

QA = [{"role": "user", "content": "<image>\nWhat modality is this?"}, {"role": "assistant", "content": "CT"}]
CHAT = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello there."},
        {"role": "user", "content": "Again."}, {"role": "assistant", "content": "Hello again."}]


@pytest.fixture(scope="module")
def base(mini_repo):
    return load_model(mini_repo / "models/base"), load_processor(mini_repo / "models/base")


def _image(seed: int) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    return Image.fromarray((torch.rand(112, 112, 3, generator=g) * 255).byte().numpy())


def test_only_assistant_tokens_carry_loss(base):
    _, processor = base
    encoded = encode(CHAT, [], processor, max_length=512)
    trained = processor.tokenizer.decode([t for t, lab in zip(encoded.input_ids, encoded.labels) if lab != IGNORE])
    assert trained == "Hello there.<|im_end|>Hello again.<|im_end|>"


def test_image_placeholder_expands_to_the_processors_visual_token_count(base):
    _, processor = base
    encoded = encode(QA, [_image(0)], processor, max_length=512)
    expected = int(encoded.image_grid_thw[0].prod()) // processor.image_processor.merge_size ** 2
    assert encoded.input_ids.count(processor.image_token_id) == expected
    assert all(lab == IGNORE for t, lab in zip(encoded.input_ids, encoded.labels) if t == processor.image_token_id)


def test_sample_whose_image_would_be_cut_is_skipped_and_text_is_truncated(base):
    _, processor = base
    assert encode(QA, [_image(0)], processor, max_length=5) is None
    assert len(encode(CHAT, [], processor, max_length=7)) == 7


def test_collation_pads_rows_and_mixes_text_only_and_image_samples(base):
    _, processor = base
    units = [[encode(QA, [_image(0)], processor, 512)], [encode(CHAT, [], processor, 512)]]
    batch = collate(units, processor.tokenizer.pad_token_id, processor.image_token_id, packed=False)
    lengths = [len(u[0]) for u in units]
    assert batch["input_ids"].shape == (2, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert batch["image_grid_thw"].shape[0] == 1
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE).all()


def test_first_fit_decreasing_respects_capacity_and_keeps_every_sample():
    lengths = [5, 9, 3, 7, 2, 8, 1]
    members, offsets = first_fit_decreasing(lengths, 10)
    bins = [members[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    with pytest.raises(ValueError):
        first_fit_decreasing([11], 10)


def test_packed_and_unpacked_losses_agree(base):
    model, processor = base
    model.eval()
    samples = [encode(QA, [_image(1)], processor, 512), encode(CHAT, [], processor, 512),
               encode(QA, [_image(2)], processor, 512)]
    pad, image_id = processor.tokenizer.pad_token_id, processor.image_token_id
    with torch.no_grad():
        padded = model(**model_inputs(model, collate([[s] for s in samples], pad, image_id, packed=False)))
        packed = model(**model_inputs(model, collate([samples], pad, image_id, packed=True)))
        # the same rows packed but with one attention mask over all: cross-attention changes the loss
        leaky_batch = collate([samples], pad, image_id, packed=False)
        leaky = model(**model_inputs(model, leaky_batch))
    assert torch.allclose(padded.loss, packed.loss, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(padded.loss, leaky.loss, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("packed", [False, True])
def test_labelled_loss_is_transformers_causal_lm_loss(base, packed):
    model, processor = base
    model.eval()
    samples = [encode(QA, [_image(1)], processor, 512), encode(CHAT, [], processor, 512)]
    units = [samples] if packed else [[s] for s in samples]
    inputs = model_inputs(model, collate(units, processor.tokenizer.pad_token_id, processor.image_token_id, packed=packed))
    with torch.no_grad():
        expected = model(**inputs).loss
        got = labelled_loss(model, inputs)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flags", [(True, True, False), (False, False, True), (True, False, True)])
def test_one_step_changes_exactly_the_trainable_parameters(mini_repo, stage_cfg, flags, tmp_path):
    vision, projector, language_model = flags
    stage = stage_cfg(trainable=Trainable(vision=vision, projector=projector, language_model=language_model),
                      max_steps=1, checkpoint_dir=str(tmp_path / "ck"))
    before = {n: p.detach().clone() for n, p in load_model(mini_repo / "models/base").named_parameters()}
    module, _, _ = fit_stage(CommonTrainConfig(), stage, mini_repo, tmp_path / "out", progress=False)
    for module_name, params in parameters_by_module(module.model).items():
        wanted = dict(zip(("vision", "projector", "language_model"), flags))[module_name]
        changed = [not torch.equal(before[n], p.detach()) for n, p in params]
        if wanted:
            assert any(changed), f"{module_name} should train but did not change"
        else:
            assert not any(changed), f"{module_name} is frozen but changed"


def test_overfitting_a_fixed_batch_drives_the_loss_down(base, stage_cfg):
    from lingshu.train.config import LearningRates

    model, processor = base
    model = type(model)(model.config)  # fresh copy, same architecture
    model.load_state_dict(base[0].state_dict())
    module = StageModule(model, stage_cfg(lr=LearningRates(vision=3e-3, projector=3e-3, language_model=3e-3)))
    batch = collate([[encode(QA, [_image(i)], processor, 512)] for i in range(4)], processor.tokenizer.pad_token_id,
                    processor.image_token_id, packed=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = module(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0], losses


@pytest.mark.parametrize("workers", [0, 2])
def test_killed_stage_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_run(mini_repo, stage_cfg, tmp_path,
                                                                                        workers):
    """Killed and resumed with `workers` DataLoader workers, compared with an uninterrupted run without any."""
    fields = dict(max_steps=6, checkpoint_every=2, checkpoint_dir=str(tmp_path / "ck"))
    common = CommonTrainConfig(num_workers=workers)
    run = run_and_kill(mini_repo, stage_cfg(**fields), tmp_path / "resumed", at_step=3, common=common)
    assert run.returncode == -9, run.stderr[-2000:]
    assert (tmp_path / "ck" / "last.ckpt").exists() and not (tmp_path / "resumed").exists()

    module, _, curve = fit_stage(common, stage_cfg(**fields), mini_repo, tmp_path / "resumed", progress=False)
    assert [r["step"] for r in curve.rows] == [1, 2, 3, 4, 5, 6]  # steps 1-2 restored from the checkpoint
    assert not (tmp_path / "ck").exists(), "a finished stage leaves nothing to resume"

    straight, _, straight_curve = fit_stage(CommonTrainConfig(), stage_cfg(**(fields | {"checkpoint_dir": str(tmp_path / "ck2")})),
                                            mini_repo, tmp_path / "straight", progress=False)
    assert [r["loss"] for r in curve.rows] == pytest.approx([r["loss"] for r in straight_curve.rows], rel=1e-4)
    for (name, a), (_, b) in zip(module.model.state_dict().items(), straight.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert load_model(tmp_path / "resumed").config.model_type == "qwen2_5_vl"


def test_changed_settings_do_not_resume_a_stale_checkpoint(mini_repo, stage_cfg, tmp_path):
    from lingshu.train.config import LearningRates

    fields = dict(max_steps=4, checkpoint_every=2, checkpoint_dir=str(tmp_path / "ck"))
    run_and_kill(mini_repo, stage_cfg(**fields, lr=LearningRates(vision=1e-2, projector=1e-2, language_model=1e-2)),
                 tmp_path / "o", at_step=3)
    assert (tmp_path / "ck" / "last.ckpt").exists()
    _, _, curve = fit_stage(CommonTrainConfig(), stage_cfg(**fields), mini_repo, tmp_path / "o", progress=False)
    fresh = fields | {"checkpoint_dir": str(tmp_path / "ck2")}
    _, _, straight = fit_stage(CommonTrainConfig(), stage_cfg(**fresh), mini_repo, tmp_path / "o2", progress=False)
    # resuming the lr=1e-2 run would have brought its steps 1-2 along; starting afresh matches a clean run
    assert [r["loss"] for r in curve.rows] == pytest.approx([r["loss"] for r in straight.rows], rel=1e-5)
    assert curve.rows[1]["lr_language_model"] == pytest.approx(straight.rows[1]["lr_language_model"])


def test_gradient_checkpointing_recomputes_blocks_and_leaves_gradients_unchanged(mini_repo, base):
    """With `gradient_checkpointing` the insides of every decoder and vision block run twice (once more in the
    backward pass) and the gradients are those of the plain model. The count wraps `forward` itself: module
    hooks do not fire during the recomputation."""
    from lingshu.train.run import load_trainable

    _, processor = base
    units = [[encode(QA, [_image(3)], processor, 512)], [encode(CHAT, [], processor, 512)]]
    batch = collate(units, processor.tokenizer.pad_token_id, processor.image_token_id, packed=False)

    def one_backward(checkpointing: bool):
        model = load_trainable(mini_repo / "models/base", CommonTrainConfig(gradient_checkpointing=checkpointing))
        model.train()
        calls = [0, 0]
        for i, inner in enumerate([model.model.language_model.layers[0].mlp, model.model.visual.blocks[0].mlp]):
            def counted(*args, _forward=inner.forward, _i=i, **kwargs):
                calls[_i] += 1
                return _forward(*args, **kwargs)

            inner.forward = counted
        model(**model_inputs(model, batch)).loss.backward()
        return calls, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain_calls, plain = one_backward(False)
    recomputed_calls, recomputed = one_backward(True)
    assert plain_calls == [1, 1] and recomputed_calls == [2, 2]
    assert plain.keys() == recomputed.keys() and len(plain) > 10
    for name, grad in plain.items():
        assert torch.allclose(grad, recomputed[name], rtol=1e-4, atol=1e-6), name
