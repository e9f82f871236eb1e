"""The `hf` backend: transformers generation, batched, greedy, on CPU or GPU.

It runs transformers generation in batches: prompts are sorted by length so each batch pads little,
padded on the left, decoded greedily, through the model's own processor and chat template. It loads
any image-text-to-text model (Qwen2.5-VL included, with lingshu's torchvision-free processor) or a
text-only causal LM. Benchmarks ask several questions about one image, and its blank-image control
asks them again: for Qwen's processor each image file is decoded and resized once (`image_cache` of
them kept), which gives the processor the pixels it would have made itself.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from PIL import Image

from lingshu.eval.backends import Request, chat_text, load_chat_processor
from lingshu.model.processor import fit_to_processor, fits


def decoded(path: str) -> Image.Image:
    """An image file as RGB, read whole (the file is closed on return)."""
    with Image.open(path) as img:
        return img.convert("RGB")


class HFBackend:
    name = "hf"

    def __init__(self, model: str, dtype: str = "auto", device: str | None = None, max_new_tokens: int = 64,
                 image_cache: int = 1024):
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

        multimodal, processor, tokenizer = load_chat_processor(model)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        auto = AutoModelForImageTextToText if multimodal else AutoModelForCausalLM
        self._serve(auto.from_pretrained(model, dtype=torch_dtype), multimodal, processor, tokenizer,
                    device or ("cuda" if torch.cuda.is_available() else "cpu"), max_new_tokens, image_cache)

    @classmethod
    def serving(cls, model, processor, max_new_tokens: int = 64, image_cache: int = 1024) -> "HFBackend":
        """A backend over a multimodal model already in memory (a training stage's), asked exactly as the
        evaluation asks a saved one: same chat template, same prompts, same greedy decoding."""
        backend = cls.__new__(cls)
        backend._serve(model, True, processor, processor.tokenizer, model.device, max_new_tokens, image_cache)
        return backend

    def _serve(self, model, multimodal: bool, processor, tokenizer, device, max_new_tokens: int, image_cache: int) -> None:
        self.multimodal, self.processor, self.tokenizer = multimodal, processor, tokenizer
        self.device, self.max_new_tokens = device, max_new_tokens
        image_processor = getattr(processor, "image_processor", None) if multimodal else None
        self._image = (lru_cache(image_cache)(lambda path: fit_to_processor(decoded(path), image_processor))
                       if fits(image_processor) else decoded)
        self.model = model.to(device).eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def _text(self, request: Request) -> str:
        return chat_text(self.processor, self.multimodal, request)

    @torch.no_grad()
    def generate(self, requests: list[Request]) -> list[str]:
        """Responses for one batch, in the order of the requests (prompts padded on the left)."""
        texts = [self._text(r) for r in requests]
        images = [self._image(p) for r in requests for p in r.images]
        side, self.tokenizer.padding_side = self.tokenizer.padding_side, "left"
        try:
            if images:
                inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
            else:
                inputs = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = side
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def prompt_length(self, request: Request) -> int:
        return len(self.tokenizer(self._text(request), add_special_tokens=False)["input_ids"])
