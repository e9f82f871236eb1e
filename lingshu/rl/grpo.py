"""The GRPO objective: group-normalised advantages, the clipped-ratio policy loss and the KL penalty.

Kept free of models and trainers so that each piece is checked on hand-computed numbers and the whole
loss against TRL's `GRPOTrainer` on the same batch (tests/test_rl_grpo.py). Following TRL:
- advantage = (reward - mean of the prompt's group) / (std + 1e-4), std over the group (`group`), the
  whole rollout (`batch`) or not divided at all (`none`; Dr. GRPO);
- per token: -min(r A, clip(r, 1-eps, 1+eps_high) A) + beta KL, with r = pi / pi_old and KL the k3
  estimator exp(ref - logp) - (ref - logp) - 1 against the frozen reference (TRL with
  use_bias_correction_kl=False; TRL 1.16's default also multiplies it by r);
- averaged per sequence then over sequences (grpo), over all tokens of the micro-batch (bnpo), over
  sequences x max_completion_length (dr_grpo), or over all tokens of the rollout (dapo).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group") -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages of completions laid out prompt by prompt (G consecutive rows per prompt), and which
    groups had zero reward spread (they carry no signal). NaN rewards (unscorable) get advantage 0."""
    grouped = rewards.view(-1, num_generations)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(num_generations)
    if scale_rewards == "batch":
        std = nanstd(rewards).expand_as(rewards)
    else:
        std = nanstd(grouped, dim=1).repeat_interleave(num_generations)
    advantages = rewards - mean
    if scale_rewards != "none":
        advantages = advantages / (std + 1e-4)
    return torch.nan_to_num(advantages, nan=0.0), torch.isclose(std, torch.zeros_like(std))


def nanstd(values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased standard deviation ignoring NaNs (torch.std's convention)."""
    keep = ~torch.isnan(values)
    count = keep.sum() if dim is None else keep.sum(dim)
    mean = torch.nanmean(values) if dim is None else torch.nanmean(values, dim=dim, keepdim=True)
    squares = torch.where(keep, (values - mean) ** 2, torch.zeros_like(values))
    total = squares.sum() if dim is None else squares.sum(dim)
    return torch.sqrt(total / (count - 1).clamp(min=1))


def per_token_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """k3 estimate of KL(pi || pi_ref) per token: unbiased, always >= 0."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


@dataclass
class LossParts:
    loss: torch.Tensor      # what backward runs on (already divided for accumulation)
    policy_loss: float      # the loss before that division, for logging
    kl: float               # mean KL per completion token (0 when beta is 0)
    clip_low: float         # share of tokens whose ratio hit the lower clip with a negative advantage
    clip_high: float        # ... the upper clip with a positive advantage
    clip_region: float


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor | None, ref_logps: torch.Tensor | None,
              advantages: torch.Tensor, mask: torch.Tensor, *, beta: float, epsilon: float, epsilon_high: float,
              loss_type: str, max_completion_length: int, accumulation: int = 1,
              rollout_tokens: float | None = None, steps_per_generation: int = 1) -> LossParts:
    """The loss of one micro-batch of completions.

    logps, old_logps, ref_logps, mask: (B, T) over completion tokens; advantages: (B,). old_logps None
    means the rollout policy is the current one (a single pass per rollout): the ratio is 1 in value
    but keeps its gradient. `rollout_tokens` (dapo) is the completion-token count of the whole rollout.
    """
    mask = mask.to(logps.dtype)
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp(logps - old)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon_high)
    adv = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * adv, clipped * adv)
    kl_tokens = None
    if beta != 0.0:
        if ref_logps is None:
            raise ValueError("beta > 0 needs the reference model's log-probabilities")
        kl_tokens = per_token_kl(logps, ref_logps)
        per_token = per_token + beta * kl_tokens
    tokens = mask.sum().clamp(min=1.0)
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token * mask).sum() / tokens
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (per_token.size(0) * max_completion_length)
    elif loss_type == "dapo":
        if rollout_tokens is None:
            raise ValueError("loss_type dapo needs the rollout's completion-token count")
        # the rollout's tokens spread over its steps_per_generation micro-batches, one window of them per step
        normaliser = max(rollout_tokens, 1.0) * accumulation / steps_per_generation
        loss = (per_token * mask).sum() / normaliser
    else:
        raise ValueError(f"unknown loss_type {loss_type!r}")
    policy_loss = float(loss.detach())
    if loss_type != "dapo":
        loss = loss / accumulation

    def share(flags: torch.Tensor) -> float:
        return float((flags.to(mask.dtype) * mask).sum() / tokens)

    low = (ratio < 1 - epsilon) & (adv < 0)
    high = (ratio > 1 + epsilon_high) & (adv > 0)
    return LossParts(loss=loss, policy_loss=policy_loss,
                     kl=float((kl_tokens.detach() * mask).sum() / tokens) if kl_tokens is not None else 0.0,
                     clip_low=share(low), clip_high=share(high), clip_region=share(low | high))


def token_logps(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """log pi(target) per position, from logits already aligned with their targets, at the sampling temperature."""
    logits = logits.float() / temperature
    return torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1)
