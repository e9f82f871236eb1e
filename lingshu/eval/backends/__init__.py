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
    system: str = ""  # a system turn before the user turn (empty: none)


def load_chat_processor(model: str):
    """(multimodal, processor, tokenizer) of a checkpoint, as every local backend builds its prompts.

    Qwen2-VL / Qwen2.5-VL checkpoints get lingshu's torchvision-free processor (lingshu's own checkpoints
    name that class, which AutoProcessor cannot load); other VLMs their AutoProcessor; text-only models
    their tokenizer, which then serves as the processor too.
    """
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    config = AutoConfig.from_pretrained(model)
    multimodal = hasattr(config, "vision_config")
    if not multimodal:
        tokenizer = AutoTokenizer.from_pretrained(model)
        return False, tokenizer, tokenizer
    if config.model_type in ("qwen2_5_vl", "qwen2_vl"):
        from lingshu.model.factory import load_processor

        processor = load_processor(model)
    else:
        processor = AutoProcessor.from_pretrained(model)
    return True, processor, processor.tokenizer


def chat_text(processor, multimodal: bool, request: Request) -> str:
    """The request (its system turn, if any, then one user turn) through the model's chat template,
    ready for generation."""
    content = request.content if multimodal else "".join(p.get("text", "") for p in request.content)
    turns = [{"role": "user", "content": content}]
    if request.system:
        system = [{"type": "text", "text": request.system}] if multimodal else request.system
        turns.insert(0, {"role": "system", "content": system})
    return processor.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


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
