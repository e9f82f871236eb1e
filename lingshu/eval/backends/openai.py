"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM serve, SGLang, TGI, a hosted API).

Why: big models are often already served somewhere; scoring them through HTTP needs no GPU or weights
here, and the same prompts, parsing and scoring as the `hf` backend keep the numbers comparable.

Each request becomes one user message whose content parts are the request's parts in order (text as
`text` parts, images inline as base64 `data:` URLs), decoded greedily (temperature 0, `max_tokens`).
A batch is sent concurrently by a thread pool; connection errors, timeouts, 429 and 5xx are retried
with exponential backoff, other 4xx fail at once. The server is `base_url` or `$OPENAI_BASE_URL`; the
API key is read only from the environment (`api_key_env`, may be unset for a local server) and never
logged or put into an exception. Standard library only (urllib), so no extra dependency.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lingshu.eval.backends import Request

RETRY_STATUS = {429, 500, 502, 503, 504}
INLINE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}  # sent as-is; others re-encoded to PNG


class OpenAIBackendError(RuntimeError):
    """A chat-completions request that failed (after retries where the failure was retryable)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def image_data_url(path: Path) -> str:
    """A `data:image/<fmt>;base64,...` URL for an image file (PNG/JPEG/GIF/WebP verbatim, others as PNG)."""
    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        fmt = INLINE_FORMATS.get(image.format or "")
        if fmt is None:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG")
            raw, fmt = buffer.getvalue(), "png"
    return f"data:image/{fmt};base64,{base64.b64encode(raw).decode('ascii')}"


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
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None
        self.max_new_tokens = max_new_tokens
        self.concurrency = max(1, concurrency)
        self.retries = max(0, retries)
        self.timeout = timeout
        self.backoff = backoff

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(model={self.model!r}, url={self.url!r})"

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
        return {"model": self.model, "messages": [{"role": "user", "content": parts}],
                "temperature": 0, "max_tokens": self.max_new_tokens}

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _post(self, body: bytes) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        failure = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            http_request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                    data = json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                status, message = error.code, _server_message(error)
                failure = f"HTTP {status}: {self._redact(message)}"
                if status not in RETRY_STATUS:
                    raise OpenAIBackendError(f"{self.url} answered {failure} (not retried)", status) from None
                continue
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, cut short
                reason = getattr(error, "reason", error)
                failure = f"connection error: {self._redact(str(reason))}"
                continue
            except json.JSONDecodeError:
                raise OpenAIBackendError(f"{self.url} answered with a body that is not JSON") from None
            try:
                return data["choices"][0]["message"]["content"] or ""
            except (KeyError, IndexError, TypeError):
                raise OpenAIBackendError(f"{self.url} answered without choices[0].message.content: "
                                         f"{self._redact(json.dumps(data)[:300])}") from None
        raise OpenAIBackendError(f"{self.url} failed after {self.retries + 1} attempts; last: {failure}",
                                 _status(failure))

    def _one(self, request: Request) -> str:
        return self._post(json.dumps(self.payload(request)).encode("utf-8"))

    def generate(self, requests: list[Request]) -> list[str]:
        """Responses for one batch, in the order of the requests (sent concurrently)."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def prompt_length(self, request: Request) -> int:
        """Characters of text plus a fixed allowance per image: a monotone proxy for bucketing."""
        return sum(len(p.get("text", "")) for p in request.content) + 256 * len(request.images)


def _server_message(error: urllib.error.HTTPError) -> str:
    """The server's error message ({"error": {"message": ...}} or the raw body), shortened."""
    try:
        raw = error.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a body we cannot read still leaves the status
        raw = ""
    try:
        data = json.loads(raw)
        err = data.get("error", data) if isinstance(data, dict) else data
        message = err.get("message", raw) if isinstance(err, dict) else str(err)
    except (json.JSONDecodeError, AttributeError):
        message = raw
    return (str(message).strip() or error.reason or "no message")[:500]


def _status(failure: str) -> int | None:
    return int(failure.split()[1].rstrip(":")) if failure.startswith("HTTP ") else None
