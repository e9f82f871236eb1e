"""Which parameters belong to the vision encoder, the projector and the language model.

One table of parameter-name prefixes per architecture (checked against the installed transformers'
names by tests) plus three booleans per training stage decide what trains: shallow alignment trains
vision + projector with the LLM frozen, deep alignment and instruction tuning train everything. The
same table groups parameters for per-module learning rates and for the trainable-count metrics.
"""

from __future__ import annotations

from torch import nn

from lingshu.model.config import Trainable

MODULES = ("vision", "projector", "language_model")

# model_type -> module -> parameter-name prefixes (transformers >= 5 names).
PREFIXES: dict[str, dict[str, tuple[str, ...]]] = {
    "qwen2_5_vl": {
        "vision": ("model.visual.patch_embed.", "model.visual.blocks."),
        "projector": ("model.visual.merger.",),
        "language_model": ("model.language_model.", "lm_head."),
    },
    "qwen2_vl": {
        "vision": ("model.visual.patch_embed.", "model.visual.blocks."),
        "projector": ("model.visual.merger.",),
        "language_model": ("model.language_model.", "lm_head."),
    },
}


def prefixes_for(model: nn.Module) -> dict[str, tuple[str, ...]]:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in PREFIXES:
        raise ValueError(f"no freezing table for model_type {model_type!r}; known: {sorted(PREFIXES)} (lingshu/model/freezing.py)")
    return PREFIXES[model_type]


def module_of(name: str, table: dict[str, tuple[str, ...]]) -> str:
    """The module a parameter belongs to; a parameter the table does not cover is an error, not a guess."""
    for module, prefixes in table.items():
        if name.startswith(prefixes):
            return module
    raise ValueError(f"parameter {name!r} matches no prefix in the freezing table {table}")


def parameters_by_module(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    table = prefixes_for(model)
    groups: dict[str, list[tuple[str, nn.Parameter]]] = {m: [] for m in MODULES}
    for name, param in model.named_parameters():
        groups[module_of(name, table)].append((name, param))
    return groups


def apply_freezing(model: nn.Module, trainable: Trainable) -> dict[str, int]:
    """Set requires_grad per module; returns the trainable parameter count per module."""
    counts: dict[str, int] = {}
    for module, params in parameters_by_module(model).items():
        flag = bool(getattr(trainable, module))
        for _, param in params:
            param.requires_grad_(flag)
        counts[module] = sum(p.numel() for _, p in params) if flag else 0
    if not any(counts.values()):
        raise ValueError("every module is frozen: nothing would train")
    return counts
