"""Rollouts: sample completions for a batch of prompts, and score token log-probabilities of them.

Each prompt is repeated `num_generations` times and sampled with transformers' `generate` (left
padding, so every prompt ends where its completion starts). A completion ends at its first end-of-turn
token, which it keeps (the model must learn to stop); whatever follows is masked out, as in TRL.
Log-probabilities are computed on prompt + completion in one forward pass over micro-batches of
completions, at the sampling temperature, keeping only the completion's logits.

When several processes train, every forward pass must run the same modules on every rank (ZeRO-3
gathers parameters with collectives; generation keeps stepping until all ranks are done, `synced_gpus`).
A batch of rows without an image would skip the vision encoder while another rank runs it, so such a
batch gets a `ballast` row: a prompt with one blank image, whose completion and log-probabilities are
dropped (the data module's blank-image row does the same for the supervised stages).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lingshu.rl.grpo import token_logps
from lingshu.train.chat import Encoded, any_image, image_inputs, left_padded


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
    ballast: Encoded | None = None  # blank-image prompt run with image-less batches when several processes train

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        return self.completion_mask.sum(1)

    def needs_ballast(self, rows: list[int]) -> bool:
        return self.ballast is not None and not any_image(self.prompts[r] for r in rows)

    def model_inputs(self, rows: list[int], image_token_id: int) -> dict:
        """Forward-pass inputs of the given rows: prompt and completion concatenated, their images in order;
        the ballast row last when the rows have no image and several processes train."""
        prompt_ids, prompt_mask, prompts = self.prompt_ids[rows], self.prompt_mask[rows], [self.prompts[r] for r in rows]
        completion_ids, completion_mask = self.completion_ids[rows], self.completion_mask[rows]
        if self.needs_ballast(rows):
            width = max(prompt_ids.shape[1], len(self.ballast))
            ballast = left_padded([self.ballast], 0, image_token_id, width)
            prompt_ids = torch.cat([_left_pad(prompt_ids, width, 0), ballast["input_ids"]])
            prompt_mask = torch.cat([_left_pad(prompt_mask, width, 0), ballast["attention_mask"]])
            completion_ids = torch.cat([completion_ids, torch.zeros_like(completion_ids[:1])])
            completion_mask = torch.cat([completion_mask, torch.zeros_like(completion_mask[:1])])
            prompts = [*prompts, self.ballast]
        ids = torch.cat([prompt_ids, completion_ids], dim=1)
        mask = torch.cat([prompt_mask, completion_mask], dim=1)
        return {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": (ids == image_token_id).long()} | image_inputs(
            prompts)


def _left_pad(rows: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(rows, (width - rows.shape[1], 0), value=value)


def completion_mask(completion_ids: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask up to and including the first end token, whether each completion has one)."""
    is_eos = completion_ids == eos_id
    length = completion_ids.shape[1]
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], length, dtype=torch.long))
    positions = torch.arange(length, device=completion_ids.device).expand_as(completion_ids)
    return (positions <= first.unsqueeze(1)).long(), is_eos.any(1)


@torch.no_grad()
def sample(model, processor, prompts: list[Encoded], num_generations: int, *, temperature: float, top_p: float,
           top_k: int, max_completion_length: int, ballast: Encoded | None = None) -> Rollout:
    """num_generations sampled completions of each prompt. `ballast` is given when several processes train:
    generation then keeps every rank stepping together, and an image-less batch runs the ballast too."""
    tokenizer = processor.tokenizer
    rows = [p for p in prompts for _ in range(num_generations)]
    with_ballast = ballast is not None and not any_image(rows)
    inputs = left_padded(rows + [ballast] * with_ballast, tokenizer.pad_token_id, processor.image_token_id)
    device_inputs = {k: v.to(model.device) for k, v in inputs.items()}
    was_training = model.training
    model.eval()
    out = model.generate(**device_inputs, do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k or None,
                         max_new_tokens=max_completion_length, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, synced_gpus=ballast is not None)
    model.train(was_training)
    width = inputs["input_ids"].shape[1]
    inputs = {k: inputs[k][: len(rows)] for k in ("input_ids", "attention_mask")}
    completion_ids = out[: len(rows), width:].cpu()
    if completion_ids.shape[1] == 0:
        completion_ids = torch.full((len(rows), 1), tokenizer.eos_token_id, dtype=torch.long)
    mask, terminated = completion_mask(completion_ids, tokenizer.eos_token_id)
    completion_ids = completion_ids.masked_fill(mask == 0, tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    return Rollout(inputs["input_ids"], inputs["attention_mask"], completion_ids, mask, rows,
                   [t.strip() for t in texts], terminated, ballast)


def completion_logps(model, rollout: Rollout, rows: list[int], image_token_id: int, temperature: float) -> torch.Tensor:
    """log pi(token) of each completion token of the given rows, (len(rows), C); grads flow when enabled."""
    inputs = {k: v.to(model.device) for k, v in rollout.model_inputs(rows, image_token_id).items()}
    width = rollout.completion_ids.shape[1]
    logits = model(**inputs, use_cache=False, logits_to_keep=width + 1).logits[: len(rows), :-1]
    return token_logps(logits, inputs["input_ids"][: len(rows), -width:], temperature)
