"""Rollouts: sample completions for a batch of prompts, and score token log-probabilities of them.

Each prompt is repeated `num_generations` times and sampled with transformers' `generate` (left
padding, so every prompt ends where its completion starts). A completion ends at its first end-of-turn
token, which it keeps (the model must learn to stop); whatever follows is masked out, as in TRL.
Log-probabilities are computed on prompt + completion in one forward pass over micro-batches of
completions, at the sampling temperature, keeping only the completion's logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lingshu.rl.grpo import token_logps
from lingshu.train.chat import Encoded, image_inputs, left_padded


@dataclass
class Rollout:
    """Completions of one rollout, prompt by prompt (num_generations consecutive rows per prompt)."""

    prompt_ids: torch.Tensor        # (N, P) left-padded
    prompt_mask: torch.Tensor       # (N, P)
    completion_ids: torch.Tensor    # (N, C) right-padded
    completion_mask: torch.Tensor   # (N, C): 1 up to and including the end-of-turn token
    prompts: list[Encoded]          # one per row (the same object for a prompt's generations)
    texts: list[str]                # decoded completions, special tokens dropped
    terminated: torch.Tensor        # (N,) the completion ended with end-of-turn rather than running out

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        return self.completion_mask.sum(1)

    def model_inputs(self, rows: list[int], image_token_id: int) -> dict:
        """Forward-pass inputs of the given rows: prompt and completion concatenated, their images in order."""
        ids = torch.cat([self.prompt_ids[rows], self.completion_ids[rows]], dim=1)
        mask = torch.cat([self.prompt_mask[rows], self.completion_mask[rows]], dim=1)
        return {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": (ids == image_token_id).long()} | image_inputs(
            [self.prompts[r] for r in rows])


def completion_mask(completion_ids: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask up to and including the first end token, whether each completion has one)."""
    is_eos = completion_ids == eos_id
    length = completion_ids.shape[1]
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], length, dtype=torch.long))
    positions = torch.arange(length, device=completion_ids.device).expand_as(completion_ids)
    return (positions <= first.unsqueeze(1)).long(), is_eos.any(1)


@torch.no_grad()
def sample(model, processor, prompts: list[Encoded], num_generations: int, *, temperature: float, top_p: float,
           top_k: int, max_completion_length: int) -> Rollout:
    """num_generations sampled completions of each prompt."""
    tokenizer = processor.tokenizer
    rows = [p for p in prompts for _ in range(num_generations)]
    inputs = left_padded(rows, tokenizer.pad_token_id, processor.image_token_id)
    device_inputs = {k: v.to(model.device) for k, v in inputs.items()}
    was_training = model.training
    model.eval()
    out = model.generate(**device_inputs, do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k or None,
                         max_new_tokens=max_completion_length, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    model.train(was_training)
    width = inputs["input_ids"].shape[1]
    completion_ids = out[:, width:].cpu()
    if completion_ids.shape[1] == 0:
        completion_ids = torch.full((len(rows), 1), tokenizer.eos_token_id, dtype=torch.long)
    mask, terminated = completion_mask(completion_ids, tokenizer.eos_token_id)
    completion_ids = completion_ids.masked_fill(mask == 0, tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    return Rollout(inputs["input_ids"], inputs["attention_mask"], completion_ids, mask, rows,
                   [t.strip() for t in texts], terminated)


def completion_logps(model, rollout: Rollout, rows: list[int], image_token_id: int, temperature: float) -> torch.Tensor:
    """log pi(token) of each completion token of the given rows, (len(rows), C); grads flow when enabled."""
    inputs = {k: v.to(model.device) for k, v in rollout.model_inputs(rows, image_token_id).items()}
    width = rollout.completion_ids.shape[1]
    logits = model(**inputs, use_cache=False, logits_to_keep=width + 1).logits[:, :-1]
    return token_logps(logits, inputs["input_ids"][:, -width:], temperature)
