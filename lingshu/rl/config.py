"""Parameters of the `rl` stage: which samples become prompts, how rollouts are sampled, the GRPO loss.

Rollout and loss settings carry TRL's `GRPOConfig` names (num_generations, per_device_train_batch_size,
steps_per_generation, beta, epsilon, loss_type, ...) with TRL's meaning, so a recipe written for TRL
reads the same here. The recipe's full-scale values are in params.yaml comments; defaults are sized for
the embedded tiny model on 2 CPU cores. Data locations and hardware (accelerator, devices, precision,
strategy) are `train.common`'s, shared with the supervised stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lingshu.checkpoints import start_problems
from lingshu.fields import doc, nested
from lingshu.model.config import Trainable

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
SCALE_REWARDS = ("group", "batch", "none")
FORMAT_STYLES = ("answer", "think")


@dataclass
class SelectionConfig:
    """Which curated and synthetic samples are verifiable prompts, and the mixture they form."""

    groups: list[str] = doc(["medical_multimodal", "synthetic_multimodal", "medical_text"],
                            "Data groups searched for verifiable samples (curated and synthetic tables).")
    rewrite_mcq_open: bool = doc(True, "Ask multiple-choice questions whose correct option is short as open questions (paper: yes).")
    max_answer_words: int = doc(4, "Longest gold answer (in words) a short-answer question may have to be verifiable.")
    yes_no_share: float = doc(0.05, "Target share of yes/no questions in the selection (paper: ~5%); 1 keeps them all.")
    balance_by: list[str] = doc(["modality", "format"], "Fields whose value combinations (cells) are balanced.")
    balance_ratio: float = doc(2.0, "A cell keeps at most this many times the median cell size (0: no cap).")
    max_prompt_length: int = doc(512, "Longest prompt in tokens, visual tokens included; longer ones are rejected, not cut.")
    max_samples: int = doc(432, "Cap on the selection after balancing (0: all; paper: ~100K).")
    seed: int = doc(0, "Seed of down-sampling and balancing.")


@dataclass
class RewardConfig:
    """What the rewards check (names and weights are `reward_funcs` / `reward_weights`)."""

    format_style: str = doc("answer", "answer: the reply is only the answer, in the form the prompt asks; think: "
                                      "<think>...</think><answer>...</answer> around such an answer.")
    max_short_words: int = doc(5, "Longest reply the format reward accepts for 'a single word or phrase'.")
    max_open_words: int = doc(20, "Longest reply the format reward accepts for 'answer concisely'.")


@dataclass
class RLConfig:
    """GRPO with verifiable rewards, starting from the instruct checkpoint."""

    init_from: str = doc("instruct", "Stage whose checkpoint (models/<name>) the policy and the frozen KL reference "
                                     "start from; the result is saved as models/rl.")
    checkpoint_dir: str = doc("checkpoints/rl", "Persistent Lightning checkpoints; a re-run resumes from the last one.")
    system_prompt: str = doc("", "System message of every prompt (e.g. asking for <think>/<answer> tags).")
    seed: int = doc(0, "Seed of prompt order and rollout sampling.")
    selection: SelectionConfig = nested(SelectionConfig, "Verifiable prompt selection.")
    rewards: RewardConfig = nested(RewardConfig, "Reward settings.")
    reward_funcs: list[str] = doc(["format", "accuracy"], "Reward functions (lingshu/rl/rewards.py), summed with weights.")
    reward_weights: list[float] = doc([0.5, 1.0], "Weight per reward function (paper: format 0.5, accuracy 1.0).")
    num_generations: int = doc(8, "Completions sampled per prompt, the group advantages are normalised over (paper: 16).")
    temperature: float = doc(1.0, "Sampling temperature of rollouts, also applied to the logits the loss scores (paper: 1.0).")
    top_p: float = doc(1.0, "Nucleus sampling of rollouts.")
    top_k: int = doc(0, "Top-k sampling of rollouts (0: off).")
    max_completion_length: int = doc(16, "Most tokens a completion may have (paper: 4096 in total).")
    per_device_train_batch_size: int = doc(32, "Completions per micro-batch (TRL's meaning).")
    gradient_accumulation_steps: int = doc(1, "Micro-batches per optimiser step.")
    steps_per_generation: int = doc(0, "Micro-batches each rollout is split into (0: gradient_accumulation_steps). "
                                       "Rollout = per_device_train_batch_size x this completions.")
    num_iterations: int = doc(1, "Passes over each rollout (TRL's mu); above 1 the ratio to the rollout policy is clipped.")
    learning_rate: float = doc(5.0e-5, "Peak learning rate of every trainable module (paper: 1e-6).")
    weight_decay: float = doc(0.0, "AdamW weight decay.")
    warmup_steps: int = doc(5, "Linear warm-up optimiser steps before the cosine decay.")
    max_grad_norm: float = doc(1.0, "Clip the gradient norm to this (0: no clipping).")
    beta: float = doc(1.0e-3, "KL coefficient to the frozen reference (paper: 1e-3); 0 loads no reference model.")
    epsilon: float = doc(0.2, "Lower clip range of the probability ratio.")
    epsilon_high: float = doc(0.0, "Upper clip range (0: same as epsilon; DAPO uses 0.28).")
    loss_type: str = doc("grpo", "grpo, bnpo, dr_grpo or dapo: how per-token losses are averaged (as in TRL).")
    scale_rewards: str = doc("group", "group, batch or none: what std the advantages are divided by (as in TRL).")
    trainable: Trainable = field(default_factory=Trainable.everything, metadata={"help": "Modules RL updates."})
    epochs: int = doc(1, "Passes over the prompts (paper: 1).")
    max_steps: int = doc(-1, "Stop after this many optimiser steps (-1: run all epochs).")
    checkpoint_every: int = doc(10, "Save a resumable checkpoint every this many optimiser steps.")
    log_completions: bool = doc(True, "Log sample completions with their rewards to MLflow every step.")
    num_completions_to_print: int = doc(4, "Completions logged per step.")
    evaluate_vqa: bool = doc(True, "Answer the held-out VQA set at the end, as the instruct stage does.")
    metrics_file: str = doc("metrics/rl.json", "Stage metrics: selection, rewards, KL, held-out results.")
    plots_file: str = doc("plots/rl/rewards.csv", "Per-step rewards and KL, a DVC plot.")
    selection_file: str = doc("plots/rl/selection.csv", "The selection's composition (source, modality, format), a DVC plot.")

    def __post_init__(self) -> None:
        if self.steps_per_generation == 0:
            self.steps_per_generation = self.gradient_accumulation_steps

    @property
    def epsilon_upper(self) -> float:
        return self.epsilon_high or self.epsilon

    @property
    def generation_batch_size(self) -> int:
        """Completions per rollout."""
        return self.per_device_train_batch_size * self.steps_per_generation

    @property
    def prompts_per_rollout(self) -> int:
        return self.generation_batch_size // self.num_generations

    def check(self) -> None:
        """Raise ValueError naming the fields when settings cannot work together."""
        problems = self.problems()
        if problems:
            raise ValueError("rl: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Settings that cannot work together, each naming its fields (checked when params are loaded)."""
        problems = start_problems("rl", self.init_from)
        if self.loss_type not in LOSS_TYPES:
            problems.append(f"loss_type {self.loss_type!r} is not one of {LOSS_TYPES}")
        if self.scale_rewards not in SCALE_REWARDS:
            problems.append(f"scale_rewards {self.scale_rewards!r} is not one of {SCALE_REWARDS}")
        if self.rewards.format_style not in FORMAT_STYLES:
            problems.append(f"rewards.format_style {self.rewards.format_style!r} is not one of {FORMAT_STYLES}")
        if self.num_generations < 2:
            problems.append("num_generations must be at least 2 (advantages compare completions of one prompt)")
        if self.generation_batch_size % self.num_generations:
            problems.append(f"per_device_train_batch_size x steps_per_generation ({self.generation_batch_size}) must be a "
                            f"multiple of num_generations ({self.num_generations})")
        if (self.steps_per_generation * self.num_iterations) % self.gradient_accumulation_steps:
            problems.append("steps_per_generation x num_iterations must be a multiple of gradient_accumulation_steps, "
                            "so that every rollout ends on an optimiser step")
        if len(self.reward_funcs) != len(self.reward_weights):
            problems.append(f"reward_funcs ({len(self.reward_funcs)}) and reward_weights ({len(self.reward_weights)}) differ in length")
        return problems
