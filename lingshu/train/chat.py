"""Turn a curated sample into model inputs: Qwen chat text, image patches and loss labels.

The conversation is rendered in Qwen's chat format with each image's placeholder expanded to as many
<|image_pad|> tokens as the image processor makes visual tokens for it, then tokenized once; the
character offsets of the assistant turns decide which tokens carry loss (everything else is -100).
Tokenizing the whole text once, rather than piece by piece, gives the same ids a prompt gets at
generation time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import torch
from PIL import Image

from lingshu.data.schema import IMAGE_TOKEN
from lingshu.data.store import ImageStores
from lingshu.model.processor import fit_to_processor
from lingshu.model.tokenizer import IM_END, IM_START, IMAGE_PAD, VISION_END, VISION_START

IGNORE = -100


@dataclass
class Encoded:
    """One tokenized sample; `pixel_values` rows belong to the images in order, `image_grid_thw` one per image."""

    input_ids: list[int]
    labels: list[int]
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_images(self) -> int:
        return 0 if self.image_grid_thw is None else int(self.image_grid_thw.shape[0])


def image_stores(common, repo: Path) -> ImageStores:
    """Where the stages of `common` (train.common) find images: the curated store, then the synthetic one."""
    synthetic = [repo / common.synthetic_dir / "images"] if common.synthetic_dir else []
    return ImageStores([repo / common.image_store] + synthetic)


def load_images(keys: list[str], store: ImageStores) -> list[Image.Image]:
    """Images of a sample from the content-addressed stores, as RGB."""
    images = []
    for key in keys:
        with Image.open(io.BytesIO(store.read(key))) as img:
            images.append(img.convert("RGB"))
    return images


class FittedImages:
    """Store key -> the image decoded and resized for the processor, with the last `maxsize` kept.

    Instruction and RL data ask many questions about the same image, and decoding a full-size
    radiograph costs more than the tiny model's step. `blank` gives a black image of the fitted size,
    which the processor encodes exactly as it encodes a black image of the original's size.
    """

    def __init__(self, store: ImageStores, image_processor, maxsize: int = 4096):
        self.store, self.image_processor = store, image_processor
        self._cached = lru_cache(maxsize=maxsize)(self._load)

    def _load(self, key: str) -> Image.Image:
        return fit_to_processor(load_images([key], self.store)[0], self.image_processor)

    def __call__(self, key: str) -> Image.Image:
        return self._cached(key)

    def blank(self, key: str) -> Image.Image:
        return Image.new("RGB", self._cached(key).size)


def render(conversations: list[dict], image_tokens: list[int], system_prompt: str = "",
           generation_prompt: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """Chat text and the character spans that are trained on (assistant contents plus their <|im_end|>)."""
    text, spans = "", []
    turns = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + list(conversations)
    pending = list(image_tokens)
    for turn in turns:
        content = str(turn["content"])
        while IMAGE_TOKEN in content:
            if not pending:
                raise ValueError("more <image> placeholders than images")
            content = content.replace(IMAGE_TOKEN, VISION_START + IMAGE_PAD * pending.pop(0) + VISION_END, 1)
        text += f"{IM_START}{turn['role']}\n"
        if turn["role"] == "assistant":
            spans.append((len(text), len(text) + len(content) + len(IM_END)))
        text += f"{content}{IM_END}\n"
    if pending:
        raise ValueError(f"{len(pending)} image(s) without an <image> placeholder")
    if generation_prompt:
        text += f"{IM_START}assistant\n"
    return text, spans


def encode(conversations: list[dict], images: list[Image.Image], processor, max_length: int,
           system_prompt: str = "", generation_prompt: bool = False) -> Encoded | None:
    """Tokens, labels and pixels of one sample; None when cutting to max_length would cut an image."""
    pixel_values = grid = None
    counts: list[int] = []
    if images:
        out = processor.image_processor(images=images, return_tensors="pt")
        pixel_values, grid = out["pixel_values"], out["image_grid_thw"]
        merge = processor.image_processor.merge_size ** 2
        counts = [int(g.prod()) // merge for g in grid]
    text, spans = render(conversations, counts, system_prompt, generation_prompt)
    tokens = processor.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = tokens["input_ids"], tokens["offset_mapping"]
    labels = [tok if any(a <= start < b for a, b in spans) else IGNORE for tok, (start, _) in zip(ids, offsets)]
    if len(ids) > max_length:
        if images and max(i for i, t in enumerate(ids) if t == processor.image_token_id) >= max_length:
            return None
        ids, labels = ids[:max_length], labels[:max_length]
    return Encoded(ids, labels, pixel_values, grid)


def left_padded(encoded: list[Encoded], pad_id: int, image_token_id: int, width: int = 0) -> dict:
    """Generation inputs for a batch of prompts: ids padded on the left (so every prompt ends where
    generation starts) to the longest prompt or `width`, the attention mask, image token types, and the
    images' pixels in order."""
    width = max(width, *(len(e) for e in encoded))
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encoded):
        ids[i, width - len(e):] = torch.tensor(e.input_ids)
        mask[i, width - len(e):] = 1
    return {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": (ids == image_token_id).long()} | image_inputs(encoded)


def any_image(encoded: Iterable[Encoded]) -> bool:
    """Whether a batch runs the vision encoder (several training processes must all run it, or none)."""
    return any(e.n_images for e in encoded)


def image_inputs(encoded: list[Encoded]) -> dict:
    """pixel_values and image_grid_thw of the samples' images, in sample order (empty without images)."""
    with_images = [e for e in encoded if e.n_images]
    if not with_images:
        return {}
    return {"pixel_values": torch.cat([e.pixel_values for e in with_images]),
            "image_grid_thw": torch.cat([e.image_grid_thw for e in with_images])}
