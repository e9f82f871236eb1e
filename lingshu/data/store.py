"""Content-addressed image store packed into Parquet shards, not one file per image.

At millions of images a folder of files is slow for DVC and for file systems: a no-op `dvc status` over
200k image files took 27.8 s, over the same images in shards of 1000 0.58 s (benchmarks/README.md,
"Image store layout"). So a store is a folder of `images-<h>.parquet` shards, where h is the first hex
digits of sha256(key). An image's shard follows from its key alone: a reader needs no index file, and a run
that adds or drops a few images changes only their shards. The number of digits is chosen when the store
is written so that a shard holds about `images_per_shard` images.

A shard has two columns, `key` and `image` ({bytes, path}: the Hugging Face `Image` feature, declared in
the schema's metadata), so `datasets.load_dataset("parquet", data_dir=<store>)` reads a store as an image
dataset. Rows are sorted by key in small row groups, so reading one image reads one row group.

Writers `put` images into a staging folder of loose files (atomic writes; tasks putting the same image at
once are safe because keys are content hashes), then `pack` writes the shards of the images to keep and
replaces the store as a whole. The staging folder is removed only after the pack succeeded, so an
interrupted run finds the images it had already staged.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import shutil
import tempfile
from collections import OrderedDict, defaultdict
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lingshu.io import atomic_write_bytes, replaced_folder

SHARD_PREFIX = "images-"
ROWS_PER_GROUP = 16  # a single image read decodes at most this many images' bytes
IMAGES_PER_SHARD = 1000  # the measured layout (benchmarks/README.md)
HF_FEATURES = {"info": {"features": {"key": {"dtype": "string", "_type": "Value"}, "image": {"_type": "Image"}}}}
SHARD_SCHEMA = pa.schema([("key", pa.string()),
                          ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))],
                         metadata={"huggingface": json.dumps(HF_FEATURES)})


def is_image_store(folder: Path) -> bool:
    """Whether a folder holds image store shards (and nothing else of Parquet)."""
    names = [p.name for p in Path(folder).glob("*.parquet")]
    return bool(names) and all(n.startswith(SHARD_PREFIX) for n in names)


def shard_digits(n_images: int, images_per_shard: int) -> int:
    """Hex digits of the shard name: 16**digits shards of about `images_per_shard` images (at least 16)."""
    return max(1, round(math.log(max(n_images / images_per_shard, 1.0), 16)))


def shard_of(key: str, digits: int) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:digits]


def write_shard(task: dict) -> dict:
    """Pack the staged images listed in the file `task["keys"]` (a pickled `KeySet`, put beside the staged
    images: a million keys in the tasks themselves would all be in the driver's memory at once) into the shard
    file `task["shard"]` (atomically)."""
    staging, path = Path(task["staging"]), Path(task["shard"])
    keys = sorted(pickle.loads(Path(task["keys"]).read_bytes()))
    missing = [k for k in keys if not (staging / k).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images to pack were never staged in {staging}, e.g. {missing[0]}")
    table = pa.Table.from_pylist([{"key": k, "image": {"bytes": (staging / k).read_bytes(), "path": k}} for k in keys],
                                 schema=SHARD_SCHEMA)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, row_group_size=ROWS_PER_GROUP)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"shard": path.name, "images": len(keys)}


KEY_PATTERN = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,8}")  # what `put` makes: <sha256 hex>.<ext>
PACKED = np.dtype("S40")  # a key of that form as 32 digest bytes and its extension, NUL-padded


def _packed_key(key: str) -> bytes | None:
    """A key of `put`'s form as its `PACKED` bytes; None for any other key."""
    return bytes.fromhex(key[:64]) + key[65:].encode() if KEY_PATTERN.fullmatch(key) else None


class KeySet:
    """A set of store keys held compactly, for the driver that packs a store of millions of images: a key of
    `put`'s form takes 40 bytes (its digest and extension, in one sorted numpy array) instead of about 150 as
    a string in a Python set (500k keys: 77 MB). Any other key is kept as it is. Iterating yields the keys."""

    def __init__(self, keys: Iterable[str] = ()):
        self.packed = np.empty(0, PACKED)  # sorted, unique
        self.other: set[str] = set()
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.update(keys)

    def update(self, keys: Iterable[str]) -> None:
        keys = iter(keys)
        while chunk := list(islice(keys, 1 << 14)):
            fresh = []
            for key in chunk:
                if (packed := _packed_key(key)) is not None:
                    fresh.append(packed)
                else:
                    self.other.add(key)
            if fresh:
                self._pending.append(np.array(fresh, PACKED))
                self._pending_rows += len(fresh)
                if self._pending_rows > max(len(self.packed), 1 << 16):  # merged now and then: amortised
                    self._merge()

    def __ior__(self, keys: Iterable[str]) -> "KeySet":
        self.update(keys)
        return self

    def _merge(self) -> np.ndarray:
        if self._pending:
            merged = np.concatenate([self.packed, *self._pending])
            self.packed, self._pending, self._pending_rows = None, [], 0
            merged.sort()
            self.packed = merged[np.concatenate(([True], merged[1:] != merged[:-1]))] if len(merged) else merged
        return self.packed

    def __len__(self) -> int:
        return len(self._merge()) + len(self.other)

    def __iter__(self) -> Iterator[str]:
        for packed in self._merge():
            yield f"{packed[:32].hex()}.{packed[32:].decode()}"
        yield from self.other

    def __contains__(self, key: str) -> bool:
        if (wanted := _packed_key(key)) is None:
            return key in self.other
        packed, wanted = self._merge(), np.array(wanted, PACKED)
        at = np.searchsorted(packed, wanted)
        return bool(at < len(packed) and packed[at] == wanted)

    def parts(self, part: Callable[[str], int]) -> Iterator[tuple[int, "KeySet"]]:
        """The keys in parts numbered by `part(key)`, each a KeySet, one at a time in number order (a part is
        copied out when it is yielded, so the parts never exist all at once)."""
        packed = self._merge()
        numbers = np.fromiter((part(key) for key in islice(self, len(packed))), dtype=np.int64, count=len(packed))
        in_parts = np.argsort(numbers, kind="stable")  # each part's keys stay sorted
        found, starts = np.unique(numbers[in_parts], return_index=True)
        spans = dict(zip(found.tolist(), zip(starts.tolist(), [*starts[1:].tolist(), len(numbers)])))
        others: dict[int, set[str]] = defaultdict(set)
        for key in self.other:
            others[part(key)].add(key)
        for number in sorted(spans.keys() | others.keys()):
            start, end = spans.get(number, (0, 0))
            chosen = KeySet()
            chosen.packed, chosen.other = packed[in_parts[start:end]], others.get(number, set())
            yield number, chosen


def _write_locally(tasks: list[dict]) -> None:
    for task in tasks:
        write_shard(task)


class ImageStore:
    """One store folder: read images by key; stage and pack new contents."""

    def __init__(self, root: str | Path, images_per_shard: int = IMAGES_PER_SHARD, open_shards: int = 64):
        self.root = Path(root)
        self.staging = self.root.with_name(f".{self.root.name}.staging")
        self.images_per_shard = images_per_shard
        self._open_shards = open_shards
        self._shards: dict[str, Path] | None = None
        self._rows: OrderedDict[str, dict[str, tuple[int, int]]] = OrderedDict()  # shard -> key -> (group, row)

    def __repr__(self) -> str:
        return f"ImageStore({str(self.root)!r})"

    # reading
    def shards(self) -> dict[str, Path]:
        """Shard id (hex prefix) -> file, listed once per instance (a store is replaced, never edited)."""
        if self._shards is None:
            found = sorted(self.root.glob(f"{SHARD_PREFIX}*.parquet")) if self.root.is_dir() else []
            self._shards = {p.name[len(SHARD_PREFIX):-len(".parquet")]: p for p in found}
            if len({len(s) for s in self._shards}) > 1:
                raise ValueError(f"image store {self.root}: shard names of different lengths; it was not written by pack")
        return self._shards

    def _locate(self, key: str) -> tuple[Path, int, int] | None:
        shards = self.shards()
        if not shards:
            return None
        shard = shard_of(key, len(next(iter(shards))))
        if shard not in shards:
            return None
        if shard not in self._rows:
            names = pq.read_table(shards[shard], columns=["key"]).column("key").to_pylist()
            groups = pq.ParquetFile(shards[shard]).metadata
            positions, row = {}, 0
            for group in range(groups.num_row_groups):
                for offset in range(groups.row_group(group).num_rows):
                    positions[names[row]] = (group, offset)
                    row += 1
            self._rows[shard] = positions
            if len(self._rows) > self._open_shards:
                self._rows.popitem(last=False)
        self._rows.move_to_end(shard)
        where = self._rows[shard].get(key)
        return None if where is None else (shards[shard], *where)

    def __contains__(self, key: str) -> bool:
        return self._locate(key) is not None

    def read(self, key: str) -> bytes:
        """The encoded bytes of `key`; KeyError naming the store when it has no such image."""
        where = self._locate(key)
        if where is None:
            raise KeyError(f"image {key} is not in the image store {self.root}")
        path, group, offset = where
        cell = pq.ParquetFile(path).read_row_group(group, columns=["image"]).column("image")[offset].as_py()
        return cell["bytes"]

    def keys(self) -> set[str]:
        return {k for path in self.shards().values() for k in pq.read_table(path, columns=["key"]).column("key").to_pylist()}

    def export(self, key: str, folder: Path) -> Path:
        """`key` as a file `folder/key`, for readers that take paths (written once: keys are content hashes)."""
        path = Path(folder) / key
        if not path.is_file():
            atomic_write_bytes(path, self.read(key))
        return path

    # writing
    def put(self, sha256: str, ext: str, data: bytes) -> str:
        """Stage an image by the hash of its bytes; returns its key (`<sha256>.<ext>`)."""
        return self.stage(f"{sha256}.{ext}", data)

    def stage(self, key: str, data: bytes) -> str:
        if not (self.staging / key).is_file():
            atomic_write_bytes(self.staging / key, data)
        return key

    def staged(self) -> set[str]:
        """Keys of the images staged since the last pack."""
        return set(self._staged_names())

    def _staged_names(self) -> Iterator[str]:
        if self.staging.is_dir():
            with os.scandir(self.staging) as entries:
                yield from (e.name for e in entries if e.is_file() and not e.name.startswith("."))

    def pack(self, keep: Iterable[str], run: Callable[[list[dict]], None] | None = None) -> int:
        """Replace the store with shards of the staged images in `keep`; returns how many staged images were
        left out. `run` writes the shard tasks (`write_shard` on each; default: here, one after another)."""
        keep = keep if isinstance(keep, KeySet) else KeySet(keep)
        digits = shard_digits(len(keep), self.images_per_shard)
        self.staging.mkdir(parents=True, exist_ok=True)
        with replaced_folder(self.root) as fresh:
            tasks = []
            for shard, keys in keep.parts(lambda key: int(shard_of(key, digits), 16)):
                name = f"{SHARD_PREFIX}{shard:0{digits}x}"
                listing = self.staging / f".{name}.keys"
                atomic_write_bytes(listing, pickle.dumps(keys))
                tasks.append({"shard": str(fresh / f"{name}.parquet"), "staging": str(self.staging),
                              "keys": str(listing), "images": len(keys)})
            (run or _write_locally)(tasks)
        left_out = sum(1 for key in self._staged_names() if key not in keep)
        shutil.rmtree(self.staging)
        self._shards = None
        self._rows.clear()
        return left_out


def write_store(root: str | Path, images: dict[str, bytes], images_per_shard: int = IMAGES_PER_SHARD) -> ImageStore:
    """A store holding exactly `images` (key -> encoded bytes), e.g. built from another collection of images."""
    store = ImageStore(root, images_per_shard)
    for key, data in images.items():
        store.stage(key, data)
    store.pack(images)
    return store


class ImageStores:
    """Several stores searched in order (curated, then synthetic): keys are content hashes, so a key names
    the same bytes in whichever store holds it."""

    def __init__(self, roots: list[str | Path]):
        self.stores = [ImageStore(r) for r in roots]

    def __repr__(self) -> str:
        return f"ImageStores({[str(s.root) for s in self.stores]})"

    def __contains__(self, key: str) -> bool:
        return any(key in s for s in self.stores)

    def holder(self, key: str) -> ImageStore:
        for store in self.stores:
            if key in store:
                return store
        raise KeyError(f"image {key} is in none of the image stores {[str(s.root) for s in self.stores]}")

    def read(self, key: str) -> bytes:
        return self.holder(key).read(key)

    def export(self, key: str, folder: Path) -> Path:
        return self.holder(key).export(key, folder)
