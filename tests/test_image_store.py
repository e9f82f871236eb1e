"""The image store's shards: what goes in comes out, a shard follows from its keys alone, a failed pack
leaves the previous store and the staged images, and `datasets` reads a store as an image dataset."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from lingshu.data.store import SHARD_PREFIX, ImageStore, ImageStores, write_store


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _images(n: int, start: int = 0) -> dict[str, bytes]:
    images = {}
    for seed in range(start, start + n):
        data = _png(seed)
        images[f"{hashlib.sha256(data).hexdigest()}.png"] = data
    return images


def _shard_bytes(store: ImageStore) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in store.shards().values()}


def test_every_image_reads_back_from_shards_sized_by_images_per_shard(tmp_path):
    images = _images(300)
    store = write_store(tmp_path / "images", images, images_per_shard=1)  # 16**2 shards: 300 images over 256 names
    assert len(next(iter(store.shards()))) == 2 and len(store.shards()) > 16
    assert all(path.name.startswith(SHARD_PREFIX) for path in (tmp_path / "images").iterdir())
    reread = ImageStore(tmp_path / "images")
    assert reread.keys() == set(images)
    assert all(reread.read(key) == data for key, data in images.items())
    assert "0" * 64 + ".png" not in reread
    with pytest.raises(KeyError, match="not in the image store"):
        reread.read("0" * 64 + ".png")
    assert len(write_store(tmp_path / "few", _images(30)).shards()) <= 16  # never fewer than one hex digit


def test_adding_an_image_rewrites_only_its_own_shard(tmp_path):
    images = _images(200)
    before = _shard_bytes(write_store(tmp_path / "images", images, images_per_shard=20))
    added = _images(1, start=1000)
    after = _shard_bytes(write_store(tmp_path / "images", images | added, images_per_shard=20))
    changed = {name for name in after if before.get(name) != after[name]}
    assert before.keys() <= after.keys() and len(changed) == 1


def test_a_failed_pack_leaves_the_store_and_keeps_what_was_staged(tmp_path):
    first = _images(20)
    write_store(tmp_path / "images", first)
    before = _shard_bytes(ImageStore(tmp_path / "images"))
    store = ImageStore(tmp_path / "images")
    second = _images(5, start=100)
    for key, data in second.items():
        store.stage(key, data)

    def crash(tasks):
        raise RuntimeError("killed mid-pack")

    with pytest.raises(RuntimeError):
        store.pack(second, run=crash)
    assert _shard_bytes(ImageStore(tmp_path / "images")) == before
    assert store.staged() == set(second)
    with pytest.raises(FileNotFoundError, match="never staged"):
        store.pack(set(second) | set(first))  # the first images were packed, not staged, this time
    assert store.pack(set(list(second)[:3])) == 2  # resumes from the staging folder; two left out
    assert ImageStore(tmp_path / "images").keys() == set(list(second)[:3]) and not store.staging.exists()


def test_stores_are_searched_in_order(tmp_path):
    curated, synthetic = _images(3), _images(2, start=50)
    stores = ImageStores([write_store(tmp_path / "a", curated).root, write_store(tmp_path / "b", synthetic).root])
    assert all(stores.read(k) == v for k, v in (curated | synthetic).items())
    assert stores.holder(next(iter(synthetic))).root == tmp_path / "b"
    exported = stores.export(next(iter(curated)), tmp_path / "files")
    assert exported.read_bytes() == curated[exported.name]
    with pytest.raises(KeyError, match="none of the image stores"):
        stores.read("missing.png")


def test_datasets_reads_a_store_as_images(tmp_path):
    import datasets

    images = _images(40)
    write_store(tmp_path / "images", images, images_per_shard=4)
    loaded = datasets.load_dataset("parquet", data_dir=str(tmp_path / "images"), split="train",
                                   cache_dir=str(tmp_path / "hf"))
    assert isinstance(loaded.features["image"], datasets.Image) and len(loaded) == len(images)
    row = loaded[0]
    assert row["image"].size == (8, 8)
    assert np.array_equal(np.asarray(row["image"]), np.asarray(Image.open(io.BytesIO(images[row["key"]]))))


def test_a_key_set_holds_what_a_python_set_holds_in_a_fraction_of_the_memory():
    """The driver sums a million kept image keys into a KeySet before packing: the same keys as a set, in any
    order and with repeats, split by shard as `pack` splits them, at 40 bytes a key of `put`'s form."""
    import random
    import tracemalloc

    from lingshu.data.store import KeySet, shard_of

    rng = random.Random(5)
    keys = [f"{hashlib.sha256(str(i).encode()).hexdigest()}.{rng.choice(['png', 'jpg', 'jpeg'])}" for i in range(50_000)]
    odd = ["not-a-digest.png", "A" * 64 + ".png", f"{'0' * 64}.PNG", "x"]  # kept as they are
    chunks = [keys[i:i + 7_000] + rng.sample(keys, 500) for i in range(0, len(keys), 7_000)]
    found = KeySet()
    for chunk in [*chunks, odd]:
        found |= chunk
    assert len(found) == len(keys) + len(odd) and set(found) == set(keys) | set(odd)
    assert all(key in found for key in rng.sample(keys, 200) + odd)
    assert f"{'f' * 64}.png" not in found and "y" not in found
    numbers = [number for number, _ in found.parts(lambda key: int(shard_of(key, 2), 16))]
    assert numbers == sorted(set(numbers))
    assert {key: number for number, part in found.parts(lambda key: int(shard_of(key, 2), 16)) for key in part} == \
           {key: int(shard_of(key, 2), 16) for key in set(keys) | set(odd)}

    tracemalloc.start()
    compact = KeySet(keys)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(compact) == len(keys) and held < 45 * len(keys)  # a string in a set: about 150 bytes
