"""Checkpoints by stage name: the pipeline's chain, written once.

Every model stage saves its checkpoint as `models/<stage>` and a stage names the checkpoint it starts
from (`train.instruct.init_from: deep`), never a path: dvc.yaml turns that name into the stage's dep
(`models/${train.instruct.init_from}`), so an ablation that starts instruct from `base` changes what DVC
records as its input too. `CHAIN` is the order stages run in; a stage may start from any earlier one.
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = "models"
CHAIN = ("base", "shallow", "deep", "instruct", "rl")  # model_init, the three supervised stages, RL
SUPERVISED = CHAIN[1:-1]


def relative_checkpoint(name: str) -> str:
    """The checkpoint of stage `name` as a repo-relative path, models/<name> (how dvc.yaml and MLflow name it)."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"a checkpoint is named by its stage ({', '.join(CHAIN)}), not a path; got {name!r}")
    return f"{MODELS_DIR}/{name}"


def checkpoint_path(repo: Path, name: str) -> Path:
    """Where the checkpoint of stage `name` lives: <repo>/models/<name>."""
    return repo / relative_checkpoint(name)


def start_problems(stage: str, init_from: str) -> list[str]:
    """Why `stage` cannot start from the checkpoint `init_from` (empty when it can): it must name an earlier stage."""
    earlier = CHAIN[: CHAIN.index(stage)]
    if init_from in earlier:
        return []
    hint = " (a stage name, not a path)" if "/" in init_from else ""
    return [f"init_from must name an earlier stage's checkpoint, one of {', '.join(earlier)}; got {init_from!r}{hint}"]
