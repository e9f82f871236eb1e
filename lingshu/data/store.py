"""Content-addressed image store: `<sha256>.<ext>` under one folder.

Identical images are stored once whatever their source, references are stable across runs, and a
sample's image ref says exactly which bytes it was curated with. Writes are atomic.
"""

from __future__ import annotations

from pathlib import Path

from lingshu.io import atomic_write_bytes


class ImageStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, sha256: str, ext: str, data: bytes) -> str:
        key = f"{sha256}.{ext}"
        if not self.path(key).exists():
            atomic_write_bytes(self.path(key), data)
        return key

    def keys(self) -> set[str]:
        return {p.name for p in self.root.iterdir() if p.is_file() and not p.name.startswith(".")}

    def prune(self, keep: set[str]) -> int:
        """Delete stored images no kept sample references; returns how many were removed."""
        removed = 0
        for key in self.keys() - keep:
            self.path(key).unlink()
            removed += 1
        return removed
