"""Run the `rl` stage end to end: select prompts, load policy and reference, run GRPO with Lightning, save.

Resumption works as in the supervised stages (lingshu.train.run): a `last.ckpt` made with the same
settings and starting weights is resumed from, with the prompt order's position restored; anything
else starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import asdict
from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import Dataset

from lingshu.checkpoints import checkpoint_path
from lingshu.fingerprint import fingerprint
from lingshu.model.factory import load_model, load_processor
from lingshu.rl.config import RLConfig
from lingshu.rl.module import GRPOModule
from lingshu.rl.rewards import reward_functions
from lingshu.rl.selection import Selection, VerifiablePrompt, select_prompts
from lingshu.train.chat import Encoded, FittedImages, encode, image_stores
from lingshu.train.config import CommonTrainConfig
from lingshu.train.datamodule import EpochSampler, ResumableLoader
from lingshu.train.lengths import Measure, cached_lengths
from lingshu.train.run import fit_resumably, load_trainable, make_trainer, save_final


def user_turn(prompt: VerifiablePrompt) -> list[dict]:
    return [{"role": "user", "content": prompt.prompt}]


class PromptDataset(Dataset):
    """Prompt i -> (the prompt, its encoded generation input); decoded images are cached, as in training."""

    def __init__(self, prompts: list[VerifiablePrompt], processor, store, system_prompt: str, image_cache: int = 2048):
        self.prompts, self.processor, self.system_prompt = prompts, processor, system_prompt
        self.image = FittedImages(store, processor.image_processor, image_cache)

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, index: int) -> tuple[VerifiablePrompt, Encoded]:
        prompt = self.prompts[index]
        images = [self.image(key) for key in prompt.images]
        encoded = encode(user_turn(prompt), images, self.processor, 1 << 30, self.system_prompt, generation_prompt=True)
        return prompt, encoded


class PromptDataModule(pl.LightningDataModule):
    """Rollout-sized batches of prompts in a seeded, resumable order (the supervised stages' sampler)."""

    def __init__(self, dataset: PromptDataset, prompts_per_rollout: int, seed: int, num_workers: int = 0):
        super().__init__()
        self.dataset, self.prompts_per_rollout, self.seed, self.num_workers = dataset, prompts_per_rollout, seed, num_workers

    def train_dataloader(self):
        trainer = self.trainer
        sampler = EpochSampler(len(self.dataset), self.seed, trainer.global_rank, trainer.world_size)

        def progress() -> tuple[int, int]:
            return trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current.processed

        return ResumableLoader(self.dataset, batch_size=self.prompts_per_rollout, sampler=sampler, collate_fn=list,
                               num_workers=self.num_workers, progress=progress)


class LogCompletions(pl.Callback):
    """Each rollout's sample completions, appended to one table artifact of the MLflow run."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        logger = trainer.logger
        rows = pl_module.completion_rows
        if rows and logger is not None and hasattr(logger, "run_id") and trainer.is_global_zero:
            table = {key: [r[key] for r in rows] for key in rows[0]}
            logger.experiment.log_table(logger.run_id, data=table, artifact_file="completions.json")


def optimiser_steps(cfg: RLConfig, n_prompts: int, world: int = 1) -> int:
    """Optimiser steps of the whole run."""
    rollouts = math.ceil(n_prompts / (cfg.prompts_per_rollout * world)) * cfg.epochs
    total = rollouts * cfg.steps_per_generation * cfg.num_iterations // cfg.gradient_accumulation_steps
    return max(1, min(total, cfg.max_steps) if cfg.max_steps > 0 else total)


def prompt_lengths(prompts: list[VerifiablePrompt], measure: Measure, cache_dir: Path, workers: int = 0):
    """Token lengths of the prompts' user turns, through the training data's length cache (keyed by the prompts'
    content), so that one process of a multi-process launch computes them."""
    import datasets

    columns = {"conversations": [user_turn(p) for p in prompts], "images": [list(p.images) for p in prompts]}
    content = hashlib.sha256(json.dumps(columns, sort_keys=True).encode()).hexdigest()
    return cached_lengths([(content, datasets.Dataset.from_dict(columns))], measure, cache_dir, workers)[0]


def select(common: CommonTrainConfig, cfg: RLConfig, processor, repo: Path) -> Selection:
    measure, cache = Measure(processor, image_stores(common, repo), cfg.system_prompt), common.cache_dir(repo)
    return select_prompts(common.table_dirs(repo), cfg.selection, cache,
                          prompt_lengths=lambda prompts: prompt_lengths(prompts, measure, cache, common.preprocess_workers))


# One rollout ends on an optimiser step (RLConfig.check), so the post-step state Lightning warns it saves
# under manual optimisation is exactly the resumable one.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")


def fit_rl(common: CommonTrainConfig, cfg: RLConfig, repo: Path, output: Path, logger=None, progress: bool = True,
           callbacks: list | None = None) -> tuple[GRPOModule, Selection]:
    """Run GRPO from the checkpoint cfg.init_from names and save the policy to `output`; returns the trained
    module and the prompt selection it trained on."""
    cfg.check()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    source = checkpoint_path(repo, cfg.init_from)
    model, processor = load_trainable(source, common), load_processor(source)
    reference = load_model(source).requires_grad_(False) if cfg.beta else None
    selection = select(common, cfg, processor, repo)
    if not selection.prompts:
        raise ValueError(f"rl.selection found no verifiable prompts in groups {cfg.selection.groups} "
                         f"(rejected: {dict(selection.rejected)})")
    checkpoint_dir = repo / cfg.checkpoint_dir
    trainer = make_trainer(common, checkpoint_dir, cfg.checkpoint_every, epochs=cfg.epochs, max_steps=cfg.max_steps,
                           logger=logger, progress=progress, callbacks=[LogCompletions()] + list(callbacks or []))
    total = optimiser_steps(cfg, len(selection.prompts), trainer.world_size)
    module = GRPOModule(model, reference, processor, cfg, reward_functions(cfg.reward_funcs, cfg.rewards), total)
    dataset = PromptDataset(selection.prompts, processor, image_stores(common, repo), cfg.system_prompt)
    data = PromptDataModule(dataset, cfg.prompts_per_rollout, cfg.seed, common.num_workers)
    key = fingerprint([asdict(common), asdict(cfg)], source)
    fit_resumably(trainer, module, data, checkpoint_dir, key)
    save_final(trainer, module.model, processor, output, checkpoint_dir)
    return module, selection
