"""The synthesis stage's LLM client: prompts in, completions out, each paid for once.

Why: synthesis asks a model for many thousands of captions, answers and rationales. A run that is
killed, or rerun with one generator changed, must not pay for (or wait on) the same completion twice,
so every success goes into a content-addressed cache the moment it arrives: one small JSON file per
completion under `<repo>/<cache_dir>/<key[:2]>/<key>.json`, keyed by the sha256 of everything that
decides the answer (backend, model, system prompt, text, the bytes of each image, temperature,
max_tokens). Same prompt, same settings: same file, whatever run or machine asked first. A corollary:
with temperature > 0, identical prompts share one completion; vary the prompt to draw several samples.

Two backends. `openai` sends requests concurrently to any OpenAI-compatible endpoint through
lingshu.chat_http (retries, backoff, the API key kept out of params, logs and the cache) and takes
token counts from the response's `usage`. `hf` runs one of the project's own checkpoints offline
through the evaluation HFBackend, in batches of `concurrency`, greedily, and counts tokens with the
checkpoint's processor: the prompt as the model saw it (image tokens included), and the reply re-tokenized
(HFBackend returns text, not ids; exact for ordinary text, a little high for byte-level garbage).
Its cache key names the checkpoint by its weights, so a retrained checkpoint never reuses old answers.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from lingshu.chat_http import ChatCompletionsClient, ChatCompletionsError, image_data_url, usage
from lingshu.eval.backends import Request
from lingshu.synth.config import BACKENDS, LLMConfig  # noqa: F401  (callers import it from here too)
from lingshu.io import atomic_write_json

HANDFUL = 8  # more uncached calls than this get a progress bar




@dataclass
class Prompt:
    text: str
    images: list[Path] = field(default_factory=list)  # sent before the text, as data URLs
    system: str = ""


@dataclass
class Completion:
    text: str | None  # None when the call failed after retries
    tokens_in: int
    tokens_out: int
    cached: bool
    error: str = ""


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def reply_json(text: str | None) -> dict | None:
    """The JSON object in a reply (from its first "{" to its last "}", so prose or code fences around it
    do not matter), or None when there is none or it does not parse."""
    match = _JSON_OBJECT.search(text or "")
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


class LLM:
    """Completions for prompts, from the cache where it has them and from the model otherwise.

    `stats` keeps running totals over every `complete` call: calls (completions asked for),
    cached_calls (answered from the cache, or by an identical prompt in the same call), failed_calls
    (gave up after retries), tokens_in and tokens_out (of every successful completion, cached ones
    included, so the totals describe the outputs and do not depend on what the cache already held).
    """

    def __init__(self, cfg: LLMConfig, repo: Path):
        why = cfg.why_unconfigured()
        if why:
            raise ValueError(f"no LLM to ask: {why}")
        self.cfg = cfg
        self.model = cfg.model
        self.cache = Path(repo) / cfg.cache_dir
        self._model = _Endpoint(cfg) if cfg.backend == "openai" else _Checkpoint(cfg, Path(repo))
        self.stats = {"calls": 0, "cached_calls": 0, "failed_calls": 0, "tokens_in": 0, "tokens_out": 0}

    def __repr__(self) -> str:  # never shows the key
        return f"LLM(backend={self.cfg.backend!r}, model={self.model!r}, {self._model!r})"

    def complete(self, prompts: list[Prompt], desc: str = "") -> list[Completion]:
        """Completions in prompt order. Cached ones cost nothing; the rest go out concurrently
        (at most cfg.concurrency in flight) and each successful one is written to the cache the moment it
        arrives (so a killed run resumes where it stopped). A call that still fails after retries
        (transient errors) becomes Completion(text=None, error=...) -- the caller counts it as a rejection;
        a non-retryable 4xx (bad key, bad model name) raises, because every further call would fail too.
        Shows a tqdm progress bar (desc) when more than a handful of calls are uncached."""
        from tqdm.auto import tqdm

        keys = [self.key(p) for p in prompts]
        unique = dict(zip(keys, prompts))  # key -> its prompt, in order (identical prompts: one call)
        done = {key: hit for key in unique if (hit := self._read(key)) is not None}
        todo = [key for key in unique if key not in done]
        answers = self._model.answer([unique[key] for key in todo])
        try:
            with tqdm(total=len(todo), desc=desc or "llm", unit="call", disable=len(todo) <= HANDFUL) as bar:
                for i, completion in answers:
                    if completion.text is not None:
                        entry = {"text": completion.text, "tokens_in": completion.tokens_in,
                                 "tokens_out": completion.tokens_out}
                        atomic_write_json(self._path(todo[i]), entry)
                    done[todo[i]] = completion
                    bar.update()
        finally:  # an error or a kill: calls not yet started are never made
            answers.close()
        out, seen = [], set()
        for key in keys:  # a repeat of a prompt earlier in this call is answered by that prompt's completion
            completion = done[key]
            out.append(replace(completion, cached=True) if key in seen and completion.text is not None else completion)
            seen.add(key)
        self._count(out)
        return out

    def key(self, prompt: Prompt) -> str:
        """sha256 of the canonical JSON of everything that decides the completion."""
        images = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in prompt.images]
        content = {"backend": self.cfg.backend, "model": self._model.identity, "system": prompt.system,
                   "text": prompt.text, "images": images, "temperature": float(self.cfg.temperature),
                   "max_tokens": int(self.cfg.max_tokens)}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.cache / key[:2] / f"{key}.json"

    def _read(self, key: str) -> Completion | None:
        """The cached completion, or None when there is none (a corrupt or torn file counts as none)."""
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            text, tokens_in, tokens_out = entry["text"], entry["tokens_in"], entry["tokens_out"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not (isinstance(text, str) and isinstance(tokens_in, int) and isinstance(tokens_out, int)):
            return None
        return Completion(text, tokens_in, tokens_out, cached=True)

    def _count(self, completions: list[Completion]) -> None:
        self.stats["calls"] += len(completions)
        self.stats["cached_calls"] += sum(c.cached for c in completions)
        self.stats["failed_calls"] += sum(c.text is None for c in completions)
        self.stats["tokens_in"] += sum(c.tokens_in for c in completions)
        self.stats["tokens_out"] += sum(c.tokens_out for c in completions)


class _Endpoint:
    """backend openai: one chat-completions request per prompt, `concurrency` in flight."""

    def __init__(self, cfg: LLMConfig):
        self.cfg = cfg
        self.identity = cfg.model
        self.client = ChatCompletionsClient(cfg.base_url, cfg.api_key_env, retries=cfg.retries, timeout=cfg.timeout,
                                            backoff=cfg.backoff)

    def __repr__(self) -> str:
        return f"url={self.client.url!r}"

    def body(self, prompt: Prompt) -> dict:
        parts = [{"type": "image_url", "image_url": {"url": image_data_url(p)}} for p in prompt.images]
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages.append({"role": "user", "content": parts + [{"type": "text", "text": prompt.text}]})
        return {"model": self.cfg.model, "messages": messages, "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_tokens}

    def one(self, prompt: Prompt) -> Completion:
        try:
            response = self.client.post(self.body(prompt))
        except ChatCompletionsError as error:
            if not error.retryable:
                raise
            return Completion(None, 0, 0, cached=False, error=str(error))
        return Completion(self.client.reply_text(response), *usage(response), cached=False)

    def answer(self, prompts: list[Prompt]) -> Iterator[tuple[int, Completion]]:
        """(index, completion) pairs in the order they arrive."""
        if not prompts:
            return
        pool = ThreadPoolExecutor(max_workers=min(max(1, self.cfg.concurrency), len(prompts)))
        try:
            futures = {pool.submit(self.one, prompt): i for i, prompt in enumerate(prompts)}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:  # a raise or a kill stops what has not started
            pool.shutdown(wait=True, cancel_futures=True)


class _Checkpoint:
    """backend hf: a local checkpoint through the evaluation HFBackend, `concurrency` prompts per batch."""

    def __init__(self, cfg: LLMConfig, repo: Path):
        from lingshu.eval.backends.hf import HFBackend
        from lingshu.fingerprint import fingerprint

        if cfg.temperature != 0:
            raise ValueError(f"the hf backend decodes greedily; set synthesize.llm.temperature to 0 "
                             f"(it is {cfg.temperature})")
        folder = Path(cfg.model) if Path(cfg.model).is_absolute() else repo / cfg.model
        where = str(folder) if folder.is_dir() else cfg.model  # else a hub id
        self.identity = f"{cfg.model}@{fingerprint({}, folder)}" if folder.is_dir() else cfg.model
        self.batch = max(1, cfg.concurrency)
        self.backend = HFBackend(where, max_new_tokens=cfg.max_tokens)

    def __repr__(self) -> str:
        return f"checkpoint={self.identity!r}"

    def tokens_in(self, request: Request) -> int:
        """Prompt tokens as the model sees them: the chat text, each image expanded to its patch tokens."""
        if not request.images:
            return self.backend.prompt_length(request)
        from PIL import Image

        images = [Image.open(p).convert("RGB") for p in request.images]
        return len(self.backend.processor(text=[self.backend._text(request)], images=images)["input_ids"][0])

    def tokens_out(self, text: str) -> int:
        return len(self.backend.tokenizer(text, add_special_tokens=False)["input_ids"])

    def answer(self, prompts: list[Prompt]) -> Iterator[tuple[int, Completion]]:
        """(index, completion) pairs, one generation batch at a time."""
        if any(p.images for p in prompts) and not self.backend.multimodal:
            raise ValueError(f"{self.identity} is a text-only checkpoint; it cannot read the prompts' images")
        for start in range(0, len(prompts), self.batch):
            requests = [Request([{"type": "image"}] * len(p.images) + [{"type": "text", "text": p.text}],
                                list(p.images), p.system) for p in prompts[start:start + self.batch]]
            for offset, (request, text) in enumerate(zip(requests, self.backend.generate(requests))):
                yield start + offset, Completion(text, self.tokens_in(request), self.tokens_out(text), cached=False)
