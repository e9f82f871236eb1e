"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM serve, SGLang, TGI, a hosted API).

Why: big models are often already served somewhere; scoring them through HTTP needs no GPU or weights
here, and the same prompts, parsing and scoring as the `hf` backend keep the numbers comparable.

Each request becomes one user message whose content parts are the request's parts in order (text as
`text` parts, images inline as base64 `data:` URLs), decoded greedily (temperature 0, `max_tokens`).
A batch is sent concurrently by a thread pool. Retries, backoff and keeping the API key out of every
message are lingshu.chat_http's job; the server is `base_url` or `$OPENAI_BASE_URL`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from lingshu.chat_http import ChatCompletionsClient, ChatCompletionsError, image_data_url
from lingshu.eval.backends import Request

OpenAIBackendError = ChatCompletionsError  # the name evaluation code and its tests know


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 max_new_tokens: int = 64, concurrency: int = 8, retries: int = 4, timeout: float = 120,
                 dtype: str | None = None, backoff: float = 1.0):
        del dtype  # the server decides the precision
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("openai backend: no server URL; set OPENAI_BASE_URL (e.g. http://localhost:8000/v1) "
                             "or pass base_url")
        self.model = model
        self.client = ChatCompletionsClient(base_url, api_key_env, retries=retries, timeout=timeout, backoff=backoff)
        self.max_new_tokens = max_new_tokens
        self.concurrency = max(1, concurrency)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(model={self.model!r}, url={self.client.url!r})"

    def payload(self, request: Request) -> dict:
        """The chat-completions body for one request."""
        images = iter(request.images)
        parts = []
        for part in request.content:
            if part["type"] == "image":
                try:
                    path = next(images)
                except StopIteration:
                    raise ValueError("request has more image parts than images") from None
                parts.append({"type": "image_url", "image_url": {"url": image_data_url(path)}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        if next(images, None) is not None:
            raise ValueError("request has more images than image parts")
        system = [{"role": "system", "content": request.system}] if request.system else []
        return {"model": self.model, "messages": system + [{"role": "user", "content": parts}],
                "temperature": 0, "max_tokens": self.max_new_tokens}

    def _one(self, request: Request) -> str:
        return self.client.reply_text(self.client.post(self.payload(request)))

    def generate(self, requests: list[Request]) -> list[str]:
        """Responses for one batch, in the order of the requests (sent concurrently)."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def prompt_length(self, request: Request) -> int:
        """Characters of text plus a fixed allowance per image: a monotone proxy for bucketing."""
        return sum(len(p.get("text", "")) for p in request.content) + 256 * len(request.images)
