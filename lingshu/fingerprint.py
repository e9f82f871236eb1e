"""Whether work left in a folder (training checkpoints, evaluation predictions) may be reused.

A folder is marked with a fingerprint of the settings and the starting weights that produced it. A
rerun with the same fingerprint resumes from what is there; any other is stale and is wiped, so a
changed learning rate or a retrained checkpoint never silently continues from old work.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

MARKER = "fingerprint"


def fingerprint(settings: Any, weights_dir: Path) -> str:
    """Hash of JSON-able settings plus the bytes of every safetensors file in weights_dir."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for weights in sorted(weights_dir.glob("*.safetensors")):
        digest.update(weights.read_bytes())
    return digest.hexdigest()


def is_marked(folder: Path, key: str) -> bool:
    """The folder holds work made with this fingerprint (read-only: safe on every rank)."""
    marker = folder / MARKER
    return marker.exists() and marker.read_text() == key


def mark_afresh(folder: Path, key: str, keep: tuple[str, ...] = ()) -> None:
    """Empty the folder (all but the entries named in `keep`, such as a lock file held open) and mark it as
    belonging to this fingerprint."""
    if folder.exists():
        for entry in folder.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(key)
