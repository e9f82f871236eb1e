"""The `vllm` backend: vLLM's offline engine (`vllm.LLM`), greedy, for fast evaluation on a CUDA GPU.

Prompts are built with the model's own chat template (its HF processor, lingshu's own for Qwen2-VL and
Qwen2.5-VL checkpoints, or the tokenizer for a text-only model), exactly as the `hf` backend does, and
images go in as PIL images through `multi_modal_data`, so answers are comparable. vLLM is CUDA-only: it
is imported inside `__init__`, never at module import, and is installed with the `gpu` extra
(`pip install -e .[gpu]`).
"""

from __future__ import annotations

from PIL import Image

from lingshu.eval.backends import Request, chat_text, load_chat_processor


class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str, max_new_tokens: int = 64, dtype: str = "auto", max_images_per_prompt: int = 4,
                 **engine_kwargs):
        try:
            from vllm import LLM, SamplingParams
        except ImportError as error:
            raise ImportError("the vllm backend needs vLLM, which runs on CUDA GPUs only (Linux + NVIDIA); "
                              "install it with the gpu extra: pip install -e .[gpu]") from error
        self.multimodal, self.processor, self.tokenizer = load_chat_processor(model)
        if self.multimodal:  # images per prompt the engine reserves memory for
            engine_kwargs.setdefault("limit_mm_per_prompt", {"image": max_images_per_prompt})
        self.llm = LLM(model=model, dtype=dtype, **engine_kwargs)
        self.sampling = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)

    def _text(self, request: Request) -> str:
        return chat_text(self.processor, self.multimodal, request)

    def _prompt(self, request: Request) -> dict:
        prompt: dict = {"prompt": self._text(request)}
        if request.images:
            images = [Image.open(p).convert("RGB") for p in request.images]
            prompt["multi_modal_data"] = {"image": images if len(images) > 1 else images[0]}
        return prompt

    def generate(self, requests: list[Request]) -> list[str]:
        """Responses for one batch, in the order of the requests (vLLM returns outputs in input order)."""
        if not requests:
            return []
        outputs = self.llm.generate([self._prompt(r) for r in requests], self.sampling, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]

    def prompt_length(self, request: Request) -> int:
        text_tokens = len(self.tokenizer(self._text(request), add_special_tokens=False)["input_ids"])
        return text_tokens + 256 * len(request.images)  # vision tokens are added by vLLM; a fixed allowance each
