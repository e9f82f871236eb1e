"""Run one supervised stage end to end: load the previous checkpoint, train with Lightning, save.

Checkpoints go to the stage's persistent checkpoint_dir every `checkpoint_every` optimiser steps; when
a `last.ckpt` is there the run resumes from it (model, optimiser, scheduler, loop and data position).
The final weights are saved as an HF checkpoint in `output` (models/<stage> in the pipeline) for the next stage
to load by name.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from lingshu.checkpoints import checkpoint_path
from lingshu.fingerprint import fingerprint, is_marked, mark_afresh
from lingshu.model.factory import load_model, load_processor, save
from lingshu.train.config import CommonTrainConfig, StageConfig
from lingshu.train.datamodule import MixtureDataModule
from lingshu.train.loss_curve import LossCurve
from lingshu.train.module import StageModule
from lingshu.train.strategies import gathered, make_strategy


def resume_point(checkpoint_dir: Path, key: str) -> Path | None:
    """last.ckpt of an interrupted run with the same fingerprint, else None (read-only: safe on every rank)."""
    last = checkpoint_dir / "last.ckpt"
    return last if last.exists() and is_marked(checkpoint_dir, key) else None


def load_trainable(source: Path, common: CommonTrainConfig):
    """The model a stage trains, from `source`; with `gradient_checkpointing` its decoder and vision blocks
    recompute their activations in the backward pass (the non-reentrant kind, which also works when the
    blocks before them are frozen)."""
    model = load_model(source)
    if common.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return model


def make_trainer(common: CommonTrainConfig, checkpoint_dir: Path, checkpoint_every: int, *, epochs: int, max_steps: int,
                 logger=None, progress: bool = True, callbacks: list | None = None, **trainer_args) -> pl.Trainer:
    """A Lightning Trainer on the shared hardware settings, checkpointing every `checkpoint_every` optimiser steps."""
    checkpointing = ModelCheckpoint(dirpath=checkpoint_dir, every_n_train_steps=checkpoint_every,
                                    save_last=True, save_top_k=0)
    return pl.Trainer(
        accelerator=common.accelerator,
        devices=common.devices,
        num_nodes=common.num_nodes,
        strategy=make_strategy(common.strategy),
        precision=common.precision,
        max_epochs=epochs,
        max_steps=max_steps,
        logger=logger if logger is not None else False,
        callbacks=[checkpointing] + ([RichProgressBar()] if progress else []) + list(callbacks or []),
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        default_root_dir=str(checkpoint_dir),
        use_distributed_sampler=False,  # EpochSampler splits the data across ranks itself
        **trainer_args,
    )


def fit_resumably(trainer: pl.Trainer, module: pl.LightningModule, data: pl.LightningDataModule, checkpoint_dir: Path,
                  key: str) -> None:
    """Fit, resuming from checkpoint_dir's last.ckpt when it was made with the same fingerprint `key`."""
    last = resume_point(checkpoint_dir, key)
    if last is not None:
        print(f"resuming from {last}")
    elif trainer.is_global_zero:
        mark_afresh(checkpoint_dir, key)
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if last else None)


def save_final(trainer: pl.Trainer, model, processor, output_dir: Path, checkpoint_dir: Path) -> None:
    """Save the HF checkpoint the next stage loads, then drop the resume checkpoints (nothing is left to resume)."""
    with gathered(model):  # ZeRO-3 shards parameters; every rank takes part in gathering them
        if trainer.is_global_zero:
            save(model, processor, output_dir)
            shutil.rmtree(checkpoint_dir, ignore_errors=True)


def fit_stage(common: CommonTrainConfig, stage: StageConfig, repo: Path, output: Path, logger=None,
              progress: bool = True, callbacks: list | None = None) -> tuple[StageModule, MixtureDataModule, LossCurve]:
    """Train one stage from the checkpoint its `init_from` names and save it to `output`; returns the trained
    module, its data module (with data stats) and the loss curve."""
    pl.seed_everything(common.seed, workers=True, verbose=False)
    source = checkpoint_path(repo, stage.init_from)
    model = load_trainable(source, common)
    processor = load_processor(source)
    module = StageModule(model, stage)
    data = MixtureDataModule(common, stage, processor, repo)
    checkpoint_dir = repo / stage.checkpoint_dir
    curve = LossCurve()
    trainer = make_trainer(common, checkpoint_dir, stage.checkpoint_every, epochs=stage.epochs, max_steps=stage.max_steps,
                           logger=logger, progress=progress, callbacks=[curve] + list(callbacks or []),
                           accumulate_grad_batches=stage.grad_accum, gradient_clip_val=stage.gradient_clip or None)
    key = fingerprint([asdict(common), asdict(stage)], source)  # settings + starting weights
    fit_resumably(trainer, module, data, checkpoint_dir, key)
    save_final(trainer, module.model, processor, output, checkpoint_dir)
    return module, data, curve
