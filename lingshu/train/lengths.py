"""Every sample's token length, computed once per table and kept on disk.

A sample's length is its rendered chat text's tokens, each image counted as the visual tokens the image
processor will make of it, read from the image's header alone (no pixels decoded). Packing, the
too-long rule and the step count need every length before the first step, so at corpus scale they are
computed by a batched `datasets` map over several processes, and saved as `lengths-<key>.npy` in the
cache folder. The key hashes the table's fingerprint (path, size, modification time) with everything
a length depends on: the tokenizer (its full JSON), the image processor's settings, the chat rendering
(a probe conversation rendered with the system prompt) and the source of `Measure` itself. Image store
keys are content hashes, so which store holds an image cannot change its size. One process computes
while the others wait on a file lock, then every process of the run, and every later run with the same
key, loads the saved lengths.
"""

from __future__ import annotations

import hashlib
import io
import inspect
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from filelock import FileLock
from PIL import Image

from lingshu.data.schema import IMAGE_TOKEN
from lingshu.train.chat import render

ROWS_PER_PROCESS = 4096  # fewer rows per process than this are not worth a process
LOCK = "lengths.lock"


def available_cores() -> int:
    return len(os.sched_getaffinity(0))


class Measure:
    """Batched `datasets` map function: conversations + images -> token lengths."""

    def __init__(self, processor, store, system_prompt: str):
        self.tokenizer, self.image_processor = processor.tokenizer, processor.image_processor
        self.store, self.system_prompt = store, system_prompt
        self._image_tokens: dict[str, int] = {}  # store keys are content hashes: one size per key

    def key(self) -> str:
        """Everything besides the data that a length depends on."""
        probe = [{"role": "user", "content": IMAGE_TOKEN + "?"}, {"role": "assistant", "content": "!"}]
        digest = hashlib.sha256(inspect.getsource(Measure).encode())
        digest.update(render(probe, [2], self.system_prompt)[0].encode())
        digest.update(self.image_processor.to_json_string().encode())
        digest.update(self.tokenizer.backend_tokenizer.to_str().encode())
        return digest.hexdigest()

    def image_tokens(self, key: str) -> int:
        if key not in self._image_tokens:
            with Image.open(io.BytesIO(self.store.read(key))) as img:
                width, height = img.size
            patches = self.image_processor.get_number_of_image_patches(height, width, {})
            self._image_tokens[key] = patches // self.image_processor.merge_size ** 2
        return self._image_tokens[key]

    def __call__(self, batch: dict[str, list]) -> dict[str, list[int]]:
        texts = [render(turns, [self.image_tokens(k) for k in keys], self.system_prompt)[0]
                 for turns, keys in zip(batch["conversations"], batch["images"])]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        return {"length": [len(i) for i in ids]}


def _compute(dataset, measure: Measure, workers: int, fingerprint: str) -> np.ndarray:
    if not len(dataset):
        return np.zeros(0, np.int32)
    processes = max(1, min(workers, len(dataset) // ROWS_PER_PROCESS))
    out = dataset.select_columns(["conversations", "images"]).map(
        measure, batched=True, batch_size=1000, num_proc=processes if processes > 1 else None,
        remove_columns=["conversations", "images"], keep_in_memory=True, new_fingerprint=fingerprint,
        desc="token lengths")
    return out.data.column("length").to_numpy().astype(np.int32)


def _save(path: Path, lengths: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, lengths)
    os.replace(tmp, path)


def cached_lengths(items: Sequence[tuple[str, object]], measure: Measure, cache_dir: Path,
                   workers: int = 0) -> list[np.ndarray]:
    """Lengths of each (fingerprint, dataset) item, from the cache or computed (by `workers` processes, 0: one
    per available core) and saved. The first process to take the cache folder's lock computes every missing
    item; the others wait, then load them."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = measure.key()
    names = [hashlib.sha256((fp + key).encode()).hexdigest()[:32] for fp, _ in items]  # datasets allows 64 chars
    paths = [cache_dir / f"lengths-{name}.npy" for name in names]
    if not all(p.exists() for p in paths):
        with FileLock(str(cache_dir / LOCK)):
            start, rows = time.perf_counter(), 0
            for name, path, (_, dataset) in zip(names, paths, items):
                if not path.exists():  # else another process made it while this one waited
                    _save(path, _compute(dataset, measure, workers or available_cores(), name))
                    rows += len(dataset)
            if rows:
                print(f"token lengths computed: {rows} rows in {time.perf_counter() - start:.1f}s (pid {os.getpid()}) "
                      f"-> {cache_dir}", file=sys.stderr, flush=True)
    return [np.load(p) for p in paths]
