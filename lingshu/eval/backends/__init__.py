"""Inference backends: turn requests (a user turn of text and images) into responses.

Every backend has `generate(requests) -> list[str]` (one batch, responses in request order) and
`prompt_length(request) -> int` (used to bucket requests of similar length). Backends are imported
only when asked for by name, so `vllm` (CUDA only) is never imported on a machine without it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Request:
    content: list[dict]  # user-turn parts: {"type": "image"} / {"type": "text", "text": ...}
    images: list[Path] = field(default_factory=list)


# name -> (module, class); modules are imported lazily
BACKENDS: dict[str, tuple[str, str]] = {
    "hf": ("lingshu.eval.backends.hf", "HFBackend"),
    "openai": ("lingshu.eval.backends.openai", "OpenAIBackend"),
    "vllm": ("lingshu.eval.backends.vllm", "VLLMBackend"),
}


def make_backend(name: str, model: str, **kwargs):
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r} is not one of {sorted(BACKENDS)}")
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)(model, **kwargs)
