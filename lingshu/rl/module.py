"""The GRPO LightningModule: one training step is one rollout (sample, reward, then optimise on it).

Lightning's manual optimisation runs the inner loop TRL runs: the rollout's completions are shuffled
and split into `steps_per_generation` micro-batches of `per_device_train_batch_size`; the whole set is
passed over `num_iterations` times; the optimiser steps every `gradient_accumulation_steps`
micro-batches (the settings are checked so that a rollout always ends on an optimiser step, which keeps
checkpoints on step boundaries). The frozen reference model is held outside the module's state, so
checkpoints carry the policy only.

Rollouts are sampled under a seed derived from the run seed and the step, so a resumed run samples
exactly what an uninterrupted one would. Logged per rollout: reward per function and in total (mean,
std), share of groups with no reward spread, KL, clip fractions, completion lengths, learning rate;
sample completions with their rewards go to the MLflow run as a table.
"""

from __future__ import annotations

import random
import time

import pytorch_lightning as pl
import torch

from lingshu.model.freezing import apply_freezing
from lingshu.rl.config import RLConfig
from lingshu.rl.grpo import group_advantages, grpo_loss, nanstd
from lingshu.rl.rewards import weighted_sum
from lingshu.rl.rollout import Rollout, completion_logps, sample
from lingshu.train.datamodule import blank_image_row
from lingshu.train.module import adamw_with_schedule, trainable_groups


class GRPOModule(pl.LightningModule):
    def __init__(self, model, reference, processor, cfg: RLConfig, reward_funcs: list, total_steps: int):
        super().__init__()
        self.automatic_optimization = False
        self.model, self.processor, self.cfg = model, processor, cfg
        self._reference = (reference,)  # a tuple keeps it out of state_dict and parameters()
        self.reward_funcs, self.total_steps = reward_funcs, total_steps
        self.model.train()
        self.trainable_counts = apply_freezing(model, cfg.trainable)
        self.history: list[dict] = []  # one row per rollout, saved in checkpoints for the whole-run plot
        self.completion_rows: list[dict] = []  # the latest rollout's logged completions
        self.ballast = None  # a blank-image prompt, set when several processes train (lingshu/rl/rollout.py)

    @property
    def reference(self):
        return self._reference[0]

    def on_fit_start(self) -> None:
        if self.reference is not None:
            self.reference.to(self.device).eval()
        if self.trainer.world_size > 1:  # see lingshu/rl/rollout.py: every rank must run the vision encoder
            self.ballast = blank_image_row(self.processor, self.cfg.selection.max_prompt_length)[0]

    def configure_optimizers(self):
        groups = trainable_groups(self.model, lambda module: self.cfg.learning_rate)
        return adamw_with_schedule(groups, self.cfg.weight_decay, self.cfg.warmup_steps, self.total_steps)

    # --- one rollout ------------------------------------------------------------------------------------

    def rewards(self, prompts: list, rollout: Rollout) -> tuple[list[list[float | None]], torch.Tensor]:
        """Rewards per function and their weighted sum, per completion (TRL's reward-function calling convention)."""
        g = self.cfg.num_generations
        columns = {key: [getattr(p, key) for p in prompts for _ in range(g)] for key in ("kind", "answer", "options", "format")}
        texts = [p.prompt for p in prompts for _ in range(g)]
        per_func = [fn(prompts=texts, completions=rollout.texts, **columns) for fn in self.reward_funcs]
        return per_func, torch.tensor(weighted_sum(per_func, self.cfg.reward_weights), dtype=torch.float32)

    @torch.no_grad()
    def _logps_of(self, model, rollout: Rollout) -> torch.Tensor:
        size = self.cfg.per_device_train_batch_size
        return torch.cat([completion_logps(model, rollout, list(range(i, min(i + size, len(rollout)))),
                                           self.processor.image_token_id, self.cfg.temperature)
                          for i in range(0, len(rollout), size)]).cpu()

    def training_step(self, batch: list[tuple], batch_idx: int):
        cfg = self.cfg
        started = time.perf_counter()
        prompts, encoded = [b[0] for b in batch], [b[1] for b in batch]
        torch.manual_seed(cfg.seed * 1_000_003 + self.global_step)
        rollout = sample(self.model, self.processor, encoded, cfg.num_generations, temperature=cfg.temperature,
                         top_p=cfg.top_p, top_k=cfg.top_k, max_completion_length=cfg.max_completion_length,
                         ballast=self.ballast)
        per_func, total = self.rewards(prompts, rollout)
        advantages, flat = group_advantages(total, cfg.num_generations, cfg.scale_rewards)
        reuse = cfg.num_iterations > 1 or cfg.steps_per_generation > cfg.gradient_accumulation_steps
        old = self._logps_of(self.model, rollout) if reuse else None
        ref = self._logps_of(self.reference, rollout) if cfg.beta else None
        parts = self._optimise(rollout, advantages, old, ref)
        self._record(prompts, rollout, per_func, total, flat, parts, time.perf_counter() - started)

    def _optimise(self, rollout: Rollout, advantages: torch.Tensor, old: torch.Tensor | None, ref: torch.Tensor | None) -> list:
        cfg = self.cfg
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        rollout_tokens = float(rollout.completion_mask.sum())
        order_rng = random.Random(cfg.seed * 7_919 + self.global_step)
        parts, micro = [], 0
        for _ in range(cfg.num_iterations):
            order = list(range(len(rollout)))
            order_rng.shuffle(order)
            for start in range(0, len(order), cfg.per_device_train_batch_size):
                rows = order[start:start + cfg.per_device_train_batch_size]
                logps = completion_logps(self.model, rollout, rows, self.processor.image_token_id, cfg.temperature)
                device = logps.device
                part = grpo_loss(logps, None if old is None else old[rows].to(device),
                                 None if ref is None else ref[rows].to(device), advantages[rows].to(device),
                                 rollout.completion_mask[rows].to(device), beta=cfg.beta, epsilon=cfg.epsilon,
                                 epsilon_high=cfg.epsilon_upper, loss_type=cfg.loss_type,
                                 max_completion_length=cfg.max_completion_length,
                                 accumulation=cfg.gradient_accumulation_steps, rollout_tokens=rollout_tokens,
                                 steps_per_generation=cfg.steps_per_generation)
                self.manual_backward(part.loss)
                parts.append(part)
                micro += 1
                if micro % cfg.gradient_accumulation_steps == 0:
                    if cfg.max_grad_norm:
                        self.clip_gradients(optimizer, gradient_clip_val=cfg.max_grad_norm, gradient_clip_algorithm="norm")
                    optimizer.step()
                    optimizer.zero_grad()
                    scheduler.step()
        return parts

    def _record(self, prompts, rollout: Rollout, per_func, total: torch.Tensor, flat: torch.Tensor, parts: list,
                seconds: float) -> None:
        cfg = self.cfg
        lengths = rollout.lengths.float()
        row = {"step": self.global_step, "reward": float(torch.nanmean(total)),
               "reward_std": float(nanstd(total))}
        for name, values in zip(cfg.reward_funcs, per_func):
            scored = torch.tensor([v for v in values if v is not None] or [float("nan")])
            row[f"rewards/{name}/mean"] = float(scored.mean())
            row[f"rewards/{name}/std"] = float(scored.std()) if len(scored) > 1 else 0.0
        row |= {"frac_reward_zero_std": float(flat.view(-1, cfg.num_generations)[:, 0].float().mean()),
                "kl": _mean(p.kl for p in parts), "loss": _mean(p.policy_loss for p in parts),
                "clip_ratio/low_mean": _mean(p.clip_low for p in parts),
                "clip_ratio/high_mean": _mean(p.clip_high for p in parts),
                "clip_ratio/region_mean": _mean(p.clip_region for p in parts),
                "completions/mean_length": float(lengths.mean()), "completions/min_length": float(lengths.min()),
                "completions/max_length": float(lengths.max()),
                "completions/clipped_ratio": float(1 - rollout.terminated.float().mean()),
                "learning_rate": self.optimizers().param_groups[0]["lr"], "seconds_per_rollout": seconds}
        self.history.append(row)
        self.log_dict({k: v for k, v in row.items() if k not in ("step", "reward")}, batch_size=len(prompts))
        self.log("reward", row["reward"], prog_bar=True, batch_size=len(prompts))
        if cfg.log_completions:
            g = cfg.num_generations
            self.completion_rows = [
                {"step": self.global_step, "prompt": prompts[i // g].prompt, "answer": prompts[i // g].answer,
                 "completion": rollout.texts[i], "reward": float(total[i]),
                 **{name: values[i] for name, values in zip(cfg.reward_funcs, per_func)}}
                for i in range(min(cfg.num_completions_to_print, len(rollout)))]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rl_history"] = self.history

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("rl_history", []))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
