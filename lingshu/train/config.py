"""Parameters of the three supervised stages (`train.shallow`, `train.deep`, `train.instruct`).

Each stage has its own section so that DVC re-runs a stage only when its own keys (or the shared
`train.common` keys) change; the dataclass is shared, the recipe's per-stage values live in params.yaml.
A stage saves its checkpoint as models/<stage> (lingshu.checkpoints) and names the one it starts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lingshu.checkpoints import SUPERVISED, start_problems
from lingshu.fields import doc, nested, required
from lingshu.model.config import Trainable


@dataclass(kw_only=True)
class LearningRates:
    """Peak learning rate per module (AdamW param groups); every stage sets all three."""

    vision: float = required("Vision encoder (paper: 2e-6).")
    projector: float = required("Projector / patch merger (paper: 1e-5).")
    language_model: float = required("Language model (paper: 1e-5).")


@dataclass
class HeldoutConfig:
    """What each stage measures on held-out data when it finishes."""

    caption_groups: list[str] = doc(["medical_caption"], "Groups whose test-split captions give the held-out caption loss.")
    max_caption_samples: int = doc(256, "Cap on held-out captions scored (0: all).")
    vqa_group: str = doc("medical_multimodal", "Data group holding the held-out VQA source.")
    vqa_source: str = doc("vqa_rad", "Source whose test-split VQA the instruct stage answers.")
    max_vqa_samples: int = doc(0, "Cap on held-out VQA questions answered (0: all).")
    image_question_types: list[str] = doc(["MODALITY", "PLANE", "ORGAN"], "Question types answerable from the image alone, scored with real and blank images.")
    max_new_tokens: int = doc(12, "Greedy decoding budget per answer.")
    batch_size: int = doc(16, "Samples per forward pass when scoring.")


@dataclass
class CommonTrainConfig:
    """Settings shared by all training stages (data location, hardware, distribution)."""

    data_dir: str = doc("data/curated", "Curated tables (a folder of Parquet shards per data group, or one file per group).")
    image_store: str = doc("data/images", "Content-addressed image store the tables point into.")
    synthetic_dir: str = doc("data/synthetic", "Synthetic tables (same groups, read alongside the curated ones) with "
                                               "their images in images/; empty: train on curated data only.")
    system_prompt: str = doc("", "System message prepended to every conversation (empty: none).")
    seed: int = doc(0, "Seed of data order, sampling and dropout.")
    accelerator: str = doc("auto", "Lightning accelerator: auto, cpu, gpu.")
    devices: str = doc("auto", "Devices per node (Lightning syntax: auto, 1, 8, '0,1').")
    num_nodes: int = doc(1, "Nodes (multi-node runs are launched by torchrun or SLURM, see README).")
    launcher: str = doc("", "Command put before the training stages' commands in dvc.yaml: `srun` starts one process "
                            "per SLURM task on every node of the allocation; empty: Lightning starts one per device.")
    strategy: str = doc("auto", "auto, ddp, deepspeed_stage_2 or deepspeed_stage_3 (DeepSpeed also runs on CPU here).")
    precision: str = doc("32-true", "Lightning precision: 32-true, bf16-mixed, bf16-true, 16-mixed.")
    num_workers: int = doc(0, "DataLoader worker processes: they read, decode and encode the rows (0: the training "
                              "process does).")
    preprocess_workers: int = doc(0, "Processes that compute the token-length cache (a `datasets` map) in the one "
                                     "process per node that preprocesses; 0: one per available CPU core.")
    data_cache: str = doc(".cache/datasets", "Cache folder of the tables' Arrow copies and token lengths (relative "
                                             "to the repo, or absolute: a node-local disk on a cluster).")
    gradient_checkpointing: bool = doc(False, "Recompute activations in the backward pass instead of storing them "
                                              "(less memory, ~30% more compute; on for 7B+ models at length 8192).")
    heldout: HeldoutConfig = nested(HeldoutConfig, "Held-out measurements every stage reports.")

    def table_dirs(self, repo: Path) -> list[Path]:
        """Where a group's tables are read from: the curated folder, then the synthetic one."""
        return [repo / self.data_dir] + ([repo / self.synthetic_dir] if self.synthetic_dir else [])

    def cache_dir(self, repo: Path) -> Path:
        """Where the tables' memory-mapped Arrow copies and the token-length cache live."""
        return repo / self.data_cache


@dataclass(kw_only=True)
class StageConfig:
    """One supervised stage: data mixture, what trains, optimiser and schedule, outputs.

    The keys every stage sets differently have no default (params.yaml must give them); the others default
    to the value all three stages ship with.
    """

    init_from: str = required("Stage whose checkpoint this one starts from (models/<name>): base, or an earlier "
                              "supervised stage; the no-alignment ablation starts instruct from base.")
    checkpoint_dir: str = required("Persistent Lightning checkpoints; a re-run resumes from the last one.")
    groups: dict = required("Data group -> weight. 1 takes each sample once per epoch, 2 twice, 0.5 a seeded half; "
                            "0 removes the group.")
    tasks: list[str] = required("Keep only these tasks (caption, vqa, mcq, report, dialogue); empty keeps all.")
    require_images: bool = required("Keep only samples with an image.")
    trainable: Trainable = required("Modules updated by this stage.")
    lr: LearningRates = required("Peak learning rate per module.")
    epochs: int = required("Passes over the stage's mixture (paper: 1, 1, 2).")
    batch_size: int = required("Sequences (or packed rows) per device per micro-batch (paper: 1).")
    packing: bool = required("Pack several samples into each row without cross-attention (paper: instruct stage only).")
    evaluate_vqa: bool = required("Answer the held-out VQA set at the end (accuracy vs baselines, real vs blank images).")
    metrics_file: str = required("Stage metrics: final loss, tokens/s, held-out results.")
    plots_file: str = required("Per-step loss curve, a DVC plot.")
    weight_decay: float = doc(0.0, "AdamW weight decay.")
    warmup_steps: int = doc(10, "Linear warm-up optimiser steps before the cosine decay (paper: 100).")
    max_steps: int = doc(-1, "Stop after this many optimiser steps (-1: run all epochs).")
    grad_accum: int = doc(1, "Micro-batches per optimiser step (paper: 8).")
    max_length: int = doc(512, "Longest sequence / packed row in tokens (paper: 8192); longer samples are cut or, if "
                               "an image would be cut, skipped and counted.")
    gradient_clip: float = doc(1.0, "Clip the gradient norm to this (0: no clipping).")
    checkpoint_every: int = doc(100, "Save a resumable checkpoint (weights and optimiser state) every this many "
                                       "optimiser steps.")

    def problems(self) -> list[str]:
        """Schedule values that could not train (the stage's `init_from` is checked by TrainConfig, which knows
        the stage's name)."""
        rates = vars(self.lr)
        out = [f"lr {rates}: learning rates must be in [0, 1e-2]"] if any(not 0 <= v <= 1e-2 for v in rates.values()) else []
        out += [f"{name} must be at least 1, got {value}" for name, value in
                (("batch_size", self.batch_size), ("grad_accum", self.grad_accum), ("epochs", self.epochs),
                 ("checkpoint_every", self.checkpoint_every)) if value < 1]
        if self.max_length < 64:
            out.append(f"max_length must be at least 64, got {self.max_length}")
        return out


@dataclass(kw_only=True)
class TrainConfig:
    """All supervised training: shared settings plus one section per stage."""

    common: CommonTrainConfig = nested(CommonTrainConfig, "Shared by all stages.")
    shallow: StageConfig = required("Shallow alignment: captions, vision + projector only.")
    deep: StageConfig = required("Deep alignment: captions, everything trains.")
    instruct: StageConfig = required("Instruction tuning: the full mixture, packed.")

    def problems(self) -> list[str]:
        """Each stage must start from an earlier stage's checkpoint (the chain of lingshu.checkpoints)."""
        return [f"{name}.{problem}" for name in SUPERVISED for problem in start_problems(name, getattr(self, name).init_from)]
