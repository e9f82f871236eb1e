"""The GRPO objective (lingshu/rl/grpo.py), piece by piece on hand-computed numbers, then whole against TRL.

The rl stage reimplements TRL's loss instead of running `GRPOTrainer`, and says its settings mean what
TRL's do. These tests hold it to that: advantages, the k3 KL, clipping and the four loss normalisers are
checked on numbers worked out in the test, and the full loss and its gradients are compared with
`trl.GRPOTrainer._compute_loss` on the same batch and the same tiny model.
"""

from __future__ import annotations

import math

import pytest
import torch

from lingshu.rl.grpo import group_advantages, grpo_loss, nanstd, per_token_kl, token_logps

EPS = 1e-4  # the constant added to the std before dividing (TRL's)


# --- advantages ---------------------------------------------------------------------------------------

REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])  # two prompts, four completions each


def test_group_scaling_by_hand():
    """Group 1: mean 0.25, deviations (.75, -.25, -.25, -.25), var (.5625 + 3 x .0625) / 3 = .25, std .5."""
    advantages, zero_std = group_advantages(REWARDS, num_generations=4, scale_rewards="group")
    group_1 = torch.tensor([0.75, -0.25, -0.25, -0.25]) / (0.5 + EPS)
    torch.testing.assert_close(advantages, torch.cat([group_1, torch.zeros(4)]))
    assert zero_std.tolist() == [False] * 4 + [True] * 4  # group 2 is all ones: no signal


def test_no_scaling_gives_centred_rewards():
    advantages, _ = group_advantages(REWARDS, num_generations=4, scale_rewards="none")
    torch.testing.assert_close(advantages, torch.tensor([0.75, -0.25, -0.25, -0.25, 0.0, 0.0, 0.0, 0.0]))


def test_batch_scaling_divides_by_the_std_of_all_rewards():
    """Mean of all eight is 5/8; squares 5 x .375^2 + 3 x .625^2 = 1.875; var 1.875 / 7. Centring stays per group."""
    advantages, zero_std = group_advantages(REWARDS, num_generations=4, scale_rewards="batch")
    std = math.sqrt(1.875 / 7)
    group_1 = torch.tensor([0.75, -0.25, -0.25, -0.25]) / (std + EPS)
    torch.testing.assert_close(advantages, torch.cat([group_1, torch.zeros(4)]))
    assert not zero_std.any()


def test_nan_reward_gets_zero_advantage_and_leaves_the_group_statistics():
    """[1, NaN, 0, 0]: mean over three is 1/3; squares 4/9 + 1/9 + 1/9 = 2/3, unbiased var (2/3) / 2 = 1/3."""
    advantages, _ = group_advantages(torch.tensor([1.0, math.nan, 0.0, 0.0]), num_generations=4)
    std = math.sqrt(1 / 3)
    expected = torch.tensor([2 / 3, 0.0, -1 / 3, -1 / 3]) / (std + EPS)
    expected[1] = 0.0
    torch.testing.assert_close(advantages, expected)


def test_nanstd_matches_trl_and_torch():
    trl_utils = pytest.importorskip("trl.trainer.utils")
    values = torch.tensor([[0.3, math.nan, 1.2, -0.7], [2.0, 0.5, 0.5, 1.0]])
    torch.testing.assert_close(nanstd(values, dim=1), trl_utils.nanstd(values, dim=1))
    torch.testing.assert_close(nanstd(values[1]), values[1].std())


# --- KL -----------------------------------------------------------------------------------------------

def test_kl_is_zero_for_equal_policies():
    logps = torch.log(torch.tensor([[0.2, 0.5, 0.9]]))
    assert torch.equal(per_token_kl(logps, logps), torch.zeros_like(logps))


def test_kl_by_hand():
    """p = 1/2, ref = 1/4: d = ref - logp = -ln 2, so exp(d) - d - 1 = 1/2 + ln 2 - 1."""
    kl = per_token_kl(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)]))
    assert kl.item() == pytest.approx(0.5 + math.log(2) - 1)


def test_kl_is_never_negative():
    generator = torch.Generator().manual_seed(0)
    logps, ref = (torch.randn(64, 16, generator=generator) * 3 for _ in range(2))
    assert (per_token_kl(logps, ref) >= 0).all()


# --- clipping -----------------------------------------------------------------------------------------

E = math.exp(0.5)


@pytest.mark.parametrize("advantage,expected_loss,expected_grad,clip_low,clip_high", [
    # A > 0: token 1's ratio e^.5 is above 1 + 0.3, so min picks the clipped 1.3 (no gradient);
    # token 2's ratio e^-.5 is below 0.8 but with A > 0 min keeps the unclipped e^-.5
    (1.0, -(1.3 + 1 / E) / 2, [0.0, -(1 / E) / 2], 0.0, 0.5),
    # A < 0: token 1 keeps the unclipped -e^.5 (loss e^.5); token 2 is clipped at 0.8 (no gradient)
    (-1.0, (E + 0.8) / 2, [E / 2, 0.0], 0.5, 0.0),
], ids=["positive_advantage", "negative_advantage"])
def test_clipping_by_hand(advantage, expected_loss, expected_grad, clip_low, clip_high):
    """Ratios e^0.5 and e^-0.5 against clip range [0.8, 1.3], averaged over the two tokens."""
    logps = torch.zeros(1, 2, requires_grad=True)
    parts = grpo_loss(logps, torch.tensor([[-0.5, 0.5]]), None, torch.tensor([advantage]), torch.ones(1, 2),
                      beta=0.0, epsilon=0.2, epsilon_high=0.3, loss_type="grpo", max_completion_length=2)
    parts.loss.backward()
    assert parts.loss.item() == pytest.approx(expected_loss)
    torch.testing.assert_close(logps.grad, torch.tensor([expected_grad]))
    assert (parts.clip_low, parts.clip_high, parts.clip_region) == pytest.approx((clip_low, clip_high, 0.5))


def test_on_policy_ratio_is_one_but_carries_the_gradient():
    """old_logps None: loss -mean(A), and d loss / d logp = -A / T per token."""
    logps = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    parts = grpo_loss(logps, None, None, torch.tensor([0.5]), torch.ones(1, 2), beta=0.0, epsilon=0.2,
                      epsilon_high=0.2, loss_type="grpo", max_completion_length=2)
    parts.loss.backward()
    assert parts.loss.item() == pytest.approx(-0.5)
    torch.testing.assert_close(logps.grad, torch.tensor([[-0.25, -0.25]]))
    assert parts.clip_region == 0.0


# --- normalisers --------------------------------------------------------------------------------------

# On-policy (ratio 1) with beta 0 the per-token loss is -A: row 1 is -1 on three tokens, row 2 is +2 on one
# token (its two masked tokens would add 4 more if the mask were ignored). Masked sum: -3 + 2 = -1.
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
ADVANTAGES = torch.tensor([1.0, -2.0])
NORMALISED = {
    "grpo": (-3 / 3 + 2 / 1) / 2,   # mean of per-sequence token means = 0.5
    "bnpo": -1 / 4,                 # over the batch's 4 tokens
    "dr_grpo": -1 / (2 * 5),        # over B x max_completion_length
    "dapo": -1 / (10 * 2 / 4),      # over rollout_tokens x accumulation / steps_per_generation
}


def _normaliser_case(loss_type: str, **overrides):
    settings = dict(beta=0.0, epsilon=0.2, epsilon_high=0.2, loss_type=loss_type, max_completion_length=5,
                    accumulation=2, rollout_tokens=10.0, steps_per_generation=4) | overrides
    return grpo_loss(torch.zeros(2, 3), None, None, ADVANTAGES, MASK, **settings)


@pytest.mark.parametrize("loss_type", sorted(NORMALISED))
def test_loss_type_normalisers_by_hand(loss_type):
    """policy_loss is the normalised loss; what backward runs on is divided by accumulation except for dapo,
    whose normaliser already spans the accumulation window."""
    parts = _normaliser_case(loss_type)
    assert parts.policy_loss == pytest.approx(NORMALISED[loss_type])
    accumulated = 1 if loss_type == "dapo" else 2
    assert parts.loss.item() == pytest.approx(NORMALISED[loss_type] / accumulated)


@pytest.mark.parametrize("overrides,message", [
    (dict(loss_type="dapo", rollout_tokens=None), "rollout"),
    (dict(loss_type="ppo"), "ppo"),
])
def test_bad_loss_settings_raise(overrides, message):
    with pytest.raises(ValueError, match=message):
        _normaliser_case(**overrides)


def test_beta_adds_beta_times_kl():
    """bnpo with ref = logp - 1 everywhere: KL per token e^-1 + 1 - 1 = e^-1, so loss = -1/4 + beta e^-1."""
    ref = torch.full((2, 3), -1.0)
    parts = grpo_loss(torch.zeros(2, 3), None, ref, ADVANTAGES, MASK, beta=0.1, epsilon=0.2, epsilon_high=0.2,
                      loss_type="bnpo", max_completion_length=5)
    assert parts.kl == pytest.approx(math.exp(-1))
    assert parts.loss.item() == pytest.approx(-1 / 4 + 0.1 * math.exp(-1))


def test_beta_without_reference_raises():
    with pytest.raises(ValueError, match="reference"):
        grpo_loss(torch.zeros(2, 3), None, None, ADVANTAGES, MASK, beta=0.1, epsilon=0.2, epsilon_high=0.2,
                  loss_type="grpo", max_completion_length=5)


# --- agreement with TRL's GRPOTrainer -----------------------------------------------------------------

TEMPERATURE = 0.7
MAX_COMPLETION = 7       # above the batch's width, so dr_grpo's normaliser is not the padded length
ACCUMULATION = 2
STEPS_PER_GENERATION = 4
ROLLOUT_TOKENS = 40.0    # num_items_in_batch: completion tokens of the whole rollout (dapo)
EPSILON, EPSILON_HIGH = 0.2, 0.28


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A one-layer Qwen2 causal LM and a byte-level tokenizer, saved so TRL can load policy and reference."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from lingshu.model.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["is there a fracture? yes", "which lobe? the left upper lobe"] * 4, vocab_size=300)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64, pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny_lm")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, tokenizer


def _trl_trainer(tiny_lm, output_dir, loss_type: str, beta: float):
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    path, tokenizer = tiny_lm
    args = trl.GRPOConfig(
        output_dir=str(output_dir), report_to=[], use_cpu=True,
        bf16=False,                     # TRL defaults to bf16 autocast; ours scores in float32
        use_bias_correction_kl=False,   # TRL >= 1.x multiplies the KL by the ratio by default; ours is plain k3
        per_device_train_batch_size=4, num_generations=4, gradient_accumulation_steps=ACCUMULATION,
        steps_per_generation=STEPS_PER_GENERATION, beta=beta, epsilon=EPSILON, epsilon_high=EPSILON_HIGH,
        loss_type=loss_type, max_completion_length=MAX_COMPLETION, temperature=TEMPERATURE)
    trainer = trl.GRPOTrainer(model=str(path), reward_funcs=lambda completions, **_: [0.0] * len(completions),
                              args=args, train_dataset=Dataset.from_dict({"prompt": ["a", "b", "c", "d"]}),
                              processing_class=tokenizer)
    trainer.model.train()  # _compute_loss divides by accumulation only in train mode
    trainer.current_gradient_accumulation_steps = ACCUMULATION  # set by Trainer's loop, which we do not run
    return trainer


def _our_logps(model, inputs):
    """Completion-token log-probs as the rl module computes them: full logits, shifted by one, at the temperature."""
    width = inputs["prompt_ids"].size(1)
    logits = model(input_ids=torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1),
                   attention_mask=torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)).logits
    return token_logps(logits[:, width - 1:-1], inputs["completion_ids"], TEMPERATURE)


def _batch(model, pad_id: int, on_policy: bool) -> dict:
    """Four left-padded prompts, completions of lengths 5, 3, 1, 4; old and ref log-probs perturbed from the
    model's so ratios fall both inside and outside the clip range."""
    generator = torch.Generator().manual_seed(1)
    prompt_mask = torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
    completion_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]])
    inputs = {
        "prompt_ids": torch.randint(10, 250, (4, 3), generator=generator).masked_fill(prompt_mask == 0, pad_id),
        "prompt_mask": prompt_mask,
        "completion_ids": torch.randint(10, 250, (4, 5), generator=generator).masked_fill(completion_mask == 0, pad_id),
        "completion_mask": completion_mask,
        "advantages": torch.tensor([1.0, -0.5, 0.6, -0.8]),
        "num_items_in_batch": torch.tensor(ROLLOUT_TOKENS),
    }
    with torch.no_grad():
        current = _our_logps(model, inputs)
    inputs["ref_per_token_logps"] = current + 0.3 * torch.randn(current.shape, generator=generator)
    if not on_policy:
        inputs["old_per_token_logps"] = current + 0.3 * torch.randn(current.shape, generator=generator)
    return inputs


def _gradients(model) -> dict[str, torch.Tensor]:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return grads


@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")
@pytest.mark.parametrize("on_policy", [False, True], ids=["old_logps", "on_policy"])
@pytest.mark.parametrize("beta", [0.0, 0.1])
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_loss_and_gradients_match_trl(tiny_lm, tmp_path, loss_type, beta, on_policy):
    """Same model, same batch: grpo_loss equals TRL's _compute_loss, and so do all parameter gradients."""
    trainer = _trl_trainer(tiny_lm, tmp_path, loss_type, beta)
    model = trainer.model
    inputs = _batch(model, tiny_lm[1].pad_token_id, on_policy)

    model.zero_grad()
    theirs = trainer._compute_loss(model, inputs)
    theirs.backward()
    their_grads = _gradients(model)

    ours = grpo_loss(_our_logps(model, inputs), inputs.get("old_per_token_logps"),
                     inputs["ref_per_token_logps"] if beta else None, inputs["advantages"], inputs["completion_mask"],
                     beta=beta, epsilon=EPSILON, epsilon_high=EPSILON_HIGH, loss_type=loss_type,
                     max_completion_length=MAX_COMPLETION, accumulation=trainer.current_gradient_accumulation_steps,
                     rollout_tokens=float(inputs["num_items_in_batch"]),
                     steps_per_generation=trainer.args.steps_per_generation)
    ours.loss.backward()
    our_grads = _gradients(model)

    assert ours.loss.item() == pytest.approx(theirs.item(), abs=1e-5)
    assert our_grads.keys() == their_grads.keys()
    for name, grad in their_grads.items():
        torch.testing.assert_close(our_grads[name], grad, atol=1e-6, rtol=1e-4, msg=f"gradient of {name}")
    metrics = trainer._metrics["train"]
    assert ours.clip_low == pytest.approx(metrics["clip_ratio/low_mean"][-1])
    assert ours.clip_high == pytest.approx(metrics["clip_ratio/high_mean"][-1])
    if beta:
        assert ours.kl == pytest.approx(metrics["kl"][-1], abs=1e-6)
    if not on_policy:
        assert ours.clip_region > 0  # the perturbation did push some ratios out of the clip range
