"""HTTP transport to an OpenAI-compatible chat-completions endpoint, shared by evaluation and synthesis.

Why one module: the evaluation `openai` backend and the synthesis LLM client both talk to the same kind
of server (vLLM serve, SGLang, TGI, a hosted API), and both need the same care: connection errors,
timeouts, 429 and 5xx are retried with exponential backoff, other 4xx fail at once (a bad key or model
name would fail every call), and the API key is read only from the environment and redacted from
every message, so it can never reach a log, an exception or a cache. Standard library only (urllib).

The caller builds the request body and reads what it needs from the parsed response (`reply_text` for
`choices[0].message.content`, `usage` for token counts); images travel inline as base64 `data:` URLs.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from lingshu.redact import redact

RETRY_STATUS = {429, 500, 502, 503, 504}
INLINE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}  # sent as-is; others re-encoded to PNG


class ChatCompletionsError(RuntimeError):
    """A chat-completions request that failed (after retries where the failure was retryable).

    `status` is the last HTTP status (None for connection errors and malformed answers); `retryable`
    says whether the failure was of a transient kind (connection, timeout, 429, 5xx), so that a later
    run may succeed where this one gave up.
    """

    def __init__(self, message: str, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


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


class ChatCompletionsClient:
    """POSTs bodies to `<base_url>/chat/completions`, retrying what is transient and hiding the key."""

    def __init__(self, base_url: str, api_key_env: str = "OPENAI_API_KEY", retries: int = 4,
                 timeout: float = 120, backoff: float = 1.0):
        parts = urllib.parse.urlsplit(base_url.rstrip("/") + "/chat/completions")
        # user:password@ in the URL is sent as HTTP Basic auth (urllib would take it for the host) and never shown
        self._basic = (parts.username or "", parts.password or "") if parts.username or parts.password else None
        self.url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.shown_url = redact(urllib.parse.urlunsplit(parts))  # messages name it with the password masked
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None  # may be unset for a local server
        self.retries = max(0, retries)
        self.timeout = timeout
        self.backoff = backoff

    def __repr__(self) -> str:  # never shows the key
        return f"ChatCompletionsClient(url={self.shown_url!r}, api_key_env={self.api_key_env!r})"

    def redact(self, text: str) -> str:
        """`text` with the key (whatever its variable is called), the URL's password and any other credential masked."""
        return redact(text, [v for v in (self._api_key, self._basic and self._basic[1]) if v])

    def post(self, body: dict) -> dict:
        """The parsed JSON response to one request body; raises ChatCompletionsError when it fails."""
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        elif self._basic:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self._basic).encode()).decode("ascii")
        failure, status = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                status = error.code
                failure = f"HTTP {status}: {self.redact(_server_message(error))}"
                if status not in RETRY_STATUS:
                    raise ChatCompletionsError(f"{self.shown_url} answered {failure} (not retried)", status) from None
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, cut short
                status, failure = None, f"connection error: {self.redact(str(getattr(error, 'reason', error)))}"
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ChatCompletionsError(f"{self.shown_url} answered with a body that is not JSON") from None
        raise ChatCompletionsError(f"{self.shown_url} failed after {self.retries + 1} attempts; last: {failure}",
                                   status, retryable=True)

    def reply_text(self, response: dict) -> str:
        """`choices[0].message.content` of a response ('' when the server sent null)."""
        try:
            return response["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ChatCompletionsError(f"{self.shown_url} answered without choices[0].message.content: "
                                       f"{self.redact(json.dumps(response)[:300])}") from None


def usage(response: dict) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) the server reported; 0 for what it left out."""
    counts = response.get("usage") if isinstance(response, dict) else None
    counts = counts if isinstance(counts, dict) else {}
    return int(counts.get("prompt_tokens") or 0), int(counts.get("completion_tokens") or 0)


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
