"""The `hf` backend: transformers generation, batched, greedy, on CPU or GPU.

It runs transformers generation in batches: prompts are sorted by length so each batch pads little,
padded on the left, decoded greedily, through the model's own processor and chat template. It loads
any image-text-to-text model (Qwen2.5-VL included, with lingshu's torchvision-free processor) or a
text-only causal LM.
"""

from __future__ import annotations

import torch
from PIL import Image

from lingshu.eval.backends import Request


class HFBackend:
    name = "hf"

    def __init__(self, model: str, dtype: str = "auto", device: str | None = None, max_new_tokens: int = 64):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

        from lingshu.model.factory import load_processor

        config = AutoConfig.from_pretrained(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.multimodal = hasattr(config, "vision_config")
        if self.multimodal:
            self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=torch_dtype)
            if config.model_type in ("qwen2_5_vl", "qwen2_vl"):
                self.processor = load_processor(model)
            else:
                from transformers import AutoProcessor

                self.processor = AutoProcessor.from_pretrained(model)
            self.tokenizer = self.processor.tokenizer
        else:
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype)
            self.processor = self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model.to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_new_tokens = max_new_tokens

    def _text(self, request: Request) -> str:
        content = request.content if self.multimodal else "".join(p.get("text", "") for p in request.content)
        return self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)

    @torch.no_grad()
    def generate(self, requests: list[Request]) -> list[str]:
        """Responses for one batch, in the order of the requests."""
        texts = [self._text(r) for r in requests]
        images = [Image.open(p).convert("RGB") for r in requests for p in r.images]
        if images:
            inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        else:
            inputs = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def prompt_length(self, request: Request) -> int:
        return len(self.tokenizer(self._text(request), add_special_tokens=False)["input_ids"])
