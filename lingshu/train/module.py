"""The LightningModule the three supervised stages share: freezing, per-module LRs, schedule, logging.

The loss is the causal-LM loss on the labels the chat encoder made (assistant tokens only), with the
vocabulary projection applied only at labelled positions: most of a sample is image and prompt tokens,
and projecting them onto the vocabulary only for the loss to ignore them was a sixth of instruction
tuning's time on the embedded default. It equals transformers' own loss (tests/test_train.py).
Packed batches get per-segment position ids and no attention mask (see packing.py). Logged per step:
loss, learning rate per param group, tokens/s; at the start, trainable parameters per module.
"""

from __future__ import annotations

import math
import time

import pytorch_lightning as pl
import torch

from lingshu.model.freezing import MODULES, apply_freezing, parameters_by_module
from lingshu.train.config import StageConfig
from lingshu.train.packing import packed_position_ids

MODEL_INPUTS = ("input_ids", "attention_mask", "labels", "pixel_values", "image_grid_thw", "mm_token_type_ids")


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up to 1, then cosine decay to 0 at `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def trainable_groups(model, lr_of) -> list[dict]:
    """Optimiser param groups, one per module (vision, projector, language model) with trainable weights,
    named after it so that its learning rate is logged under that name."""
    by_module = parameters_by_module(model)
    groups = []
    for module in MODULES:
        params = [p for _, p in by_module[module] if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": lr_of(module), "name": module})
    return groups


def adamw_with_schedule(groups: list[dict], weight_decay: float, warmup: int, total: int) -> dict:
    """Lightning's optimiser config: AdamW over `groups`, warm-up then cosine decay per optimiser step.

    AdamW is torch's fused implementation: one kernel for every tensor's update instead of a dozen small
    ones per tensor (the per-tensor loop is torch's CPU default), the same update, the step several times
    faster on the tiny model's 105 tensors (benchmarks/bench_optimizer.py).
    """
    optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay, fused=True)
    warmup = min(warmup, total // 2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, total))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def model_inputs(model, batch: dict) -> dict:
    """The keyword arguments of the model's forward for a collated batch (packed or padded)."""
    # use_cache=False matters beyond memory: with a KV cache transformers ignores packed position ids
    inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch} | {"use_cache": False}
    if "segments" in batch:
        inputs["position_ids"] = packed_position_ids(model, batch["input_ids"], batch["mm_token_type_ids"],
                                                     batch.get("image_grid_thw"), batch["segments"])
    return inputs


def labelled_loss(model, inputs: dict) -> torch.Tensor:
    """transformers' ForCausalLMLoss (labels shifted left, mean over labelled tokens, logits in float32),
    computing logits only where a label is."""
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    hidden = model.model(**inputs)[0]
    target = labels[:, 1:]
    labelled = target != -100
    logits = model.lm_head(hidden[:, :-1][labelled]).float()
    return torch.nn.functional.cross_entropy(logits, target[labelled])


class StageModule(pl.LightningModule):
    def __init__(self, model, stage: StageConfig):
        super().__init__()
        self.model, self.stage = model, stage
        self.model.train()  # from_pretrained returns eval mode; Lightning keeps submodule modes as found
        self.trainable_counts = apply_freezing(model, stage.trainable)
        self._step_started = 0.0

    def forward(self, batch: dict) -> torch.Tensor:
        return labelled_loss(self.model, model_inputs(self.model, batch))

    def on_train_start(self) -> None:
        self.log_dict({f"trainable_params/{m}": float(n) for m, n in self.trainable_counts.items()}, rank_zero_only=True)

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._step_started = time.perf_counter()

    def training_step(self, batch: dict, batch_idx: int):
        loss = self(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        # forward, backward and (on accumulation boundaries) the optimiser step; data loading excluded
        elapsed = max(time.perf_counter() - self._step_started, 1e-9)
        self.log("train/tokens_per_s", batch["n_tokens"] / elapsed, prog_bar=True)

    def on_before_optimizer_step(self, optimizer) -> None:
        for group in optimizer.param_groups:
            self.log(f"lr/{group['name']}", group["lr"])

    def total_steps(self) -> int:
        """Optimiser steps of the whole run, from the data module's row count.

        Not `trainer.estimated_stepping_batches`: that loads the train dataloader before a checkpoint is
        restored, after which Lightning never hands the loader its saved position, so resume would
        replay the epoch from the start.
        """
        if getattr(self.trainer.datamodule, "dataset", None) is None:  # fitted on plain dataloaders
            return max(1, int(self.trainer.estimated_stepping_batches))
        rows = len(self.trainer.datamodule.dataset)
        world = self.trainer.world_size
        per_epoch = math.ceil(math.ceil(rows / (self.stage.batch_size * world)) / self.stage.grad_accum)
        total = per_epoch * self.stage.epochs
        return max(1, min(total, self.stage.max_steps) if self.stage.max_steps > 0 else total)

    def configure_optimizers(self):
        groups = trainable_groups(self.model, lambda module: getattr(self.stage.lr, module))
        return adamw_with_schedule(groups, self.stage.weight_decay, self.stage.warmup_steps, self.total_steps())
