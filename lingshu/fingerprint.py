"""Whether work left in a folder (training checkpoints, evaluation predictions) may be reused.

A folder is marked with a fingerprint of the settings, the starting weights and the lingshu code that
produced it. A rerun with the same fingerprint resumes from what is there; any other is stale and is
wiped, so a changed learning rate, a retrained checkpoint or changed code never silently continues from
old work. (Without the code, DVC re-ran an evaluation whose code had changed and the stage resumed every
prediction the old code had made: an untrained model's weights never change, so its answers were
never asked again.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

MARKER = "fingerprint"


PACKAGE = Path(__file__).resolve().parent


@cache
def code_fingerprint(package: Path = PACKAGE) -> str:
    """Hash of the names and bytes of every Python source of the package (lingshu's, by default)."""
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(settings: Any, weights_dir: Path) -> str:
    """Hash of JSON-able settings, the lingshu code and the bytes of every safetensors file in weights_dir."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(code_fingerprint().encode())
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
