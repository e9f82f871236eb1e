"""An evaluation's output folder: written by one run at a time, and reused only by the run that made it.

Predictions are resumed from the folder, so a folder must never serve a run they were not made by: a
random-init model pointed at an instruct model's folder would report the instruct model's answers. The
folder is marked with the fingerprint of the model, the settings that change answers and the code (the
DVC stage's fingerprint: protocol, backend, generation budget, dtype, the model's weights and lingshu's
sources; lingshu.fingerprint),
and `run.json` beside it says the same in words for messages. The `evaluate` stage empties a stale folder
(DVC owns it); `lingshu eval` refuses one unless told `--fresh`, and never empties a folder it did not write.

While a run writes the folder it holds an OS lock on `OUT/.lock` (fcntl, released by the kernel when the
process ends, however it ends) and writes who it is into that file; a second run into the same folder
stops at once, naming the holder. A run that ends empties the file, so a finished folder (a DVC output)
holds the same bytes whoever wrote it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from lingshu.fingerprint import MARKER, fingerprint, is_marked, mark_afresh
from lingshu.io import atomic_write_json

LOCK = ".lock"
RUN = "run.json"
SETTINGS = ("protocol", "backend", "max_new_tokens", "dtype")  # what changes the answers (batching does not)


def answer_settings(config) -> dict:
    """The fields of an evaluation config (a dataclass) that change the answers, keyed as a run records them."""
    return {k: v for k, v in asdict(config).items() if k in SETTINGS}


class FolderBusy(RuntimeError):
    """Another run is writing the output folder."""


class FolderTaken(RuntimeError):
    """The output folder holds predictions another model or other settings made."""


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock for the block; FolderBusy, naming the holder, if another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(os.pread(handle, 4096, 0))
        os.close(handle)
        raise FolderBusy(f"{folder} is being written by {holder}; wait for it to end, or choose another --out") from None
    try:
        os.ftruncate(handle, 0)
        about = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "command": " ".join(sys.argv)}
        os.pwrite(handle, json.dumps(about).encode(), 0)
        yield
    finally:
        os.ftruncate(handle, 0)  # a finished run leaves an empty lock file: the folder's content stays deterministic
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def _holder(text: bytes) -> str:
    try:
        about = json.loads(text)
        return f"process {about['pid']} on {about['host']} since {about['since']} ({about['command']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def run_key(model: str, settings: dict) -> str:
    """The fingerprint predictions are made under: a local checkpoint's settings and weights (exactly the
    `evaluate` stage's key), else the model's name (with its cached hub revision where there is one)."""
    local = Path(model)
    if local.is_dir():
        return fingerprint(settings, local)
    return fingerprint(settings | {"model": model, "revision": hub_revision(model)}, local)


def hub_revision(model: str) -> str | None:
    """The commit of a hub model in the local cache (offline), or None when it is not cached there."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True)).name
    except Exception:  # not a hub id, or not cached: the name alone identifies it
        return None


def start_or_resume(folder: Path, key: str) -> bool:
    """The `evaluate` stage's rule: resume when `folder` was made with `key`, else empty it (keeping the
    lock). Returns True when resuming."""
    if is_marked(folder, key):
        return True
    mark_afresh(folder, key, keep=(LOCK,))
    return False


def claim(folder: Path, key: str, about: dict, fresh: bool = False) -> bool:
    """`lingshu eval`'s rule: resume when `folder` was made with `key`; start in an empty folder; with `fresh`,
    empty one that earlier evaluations wrote. Anything else is FolderTaken, saying what made the folder.
    Returns True when resuming."""
    if is_marked(folder, key):
        return True
    contents = {p.name for p in folder.iterdir()} - {LOCK} if folder.is_dir() else set()
    ours = MARKER in contents or any(folder.glob("*/predictions.jsonl"))
    if contents and not (fresh and ours):
        raise FolderTaken(_taken(folder, about, ours))
    mark_afresh(folder, key, keep=(LOCK,))
    atomic_write_json(folder / RUN, about)
    return False


def _taken(folder: Path, about: dict, ours: bool) -> str:
    if not ours:
        return f"{folder} is not empty and holds no evaluation; choose a new or empty --out"
    earlier = json.loads((folder / RUN).read_text()) if (folder / RUN).is_file() else {}
    changed = [f"{k} {earlier.get(k)!r} there, {v!r} now" for k, v in about.items() if earlier.get(k) != v]
    if not earlier:
        why = "nothing in it records which model made them"
    else:
        why = "; ".join(changed) or "same names and settings, but the model's weights or lingshu's code changed since"
    return (f"{folder} holds predictions made by another model or other settings ({why}); they would be reused "
            f"as this run's answers. Pass --fresh to discard them, or choose another --out")
