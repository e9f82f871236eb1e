"""Training data through `datasets` (lingshu/train/{tables,mixture,lengths,packing,datamodule}.py).

The data module reads memory-mapped tables and a cached length column instead of Python lists, but a
stage must still train on exactly the rows it trained on before, in the same order, with the same data
stats: `reference_rows` below is the previous data module's algorithm, written out from its list form
(`pq.read_table().to_pylist()`, one `measure` per sample, a sample-by-sample first-fit-decreasing), and
the new module is compared with it on mixtures that exercise every rule: fractional and repeated
weights, dropped groups, task and image filters, truncation, skipping and packing.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from lingshu.data.schema import read_table, table_files
from lingshu.model.factory import load_processor
from lingshu.train.chat import image_stores, render
from lingshu.train.config import CommonTrainConfig
from lingshu.train.datamodule import EpochSampler, MixtureDataModule
from lingshu.train.lengths import Measure, cached_lengths
from lingshu.train.packing import first_fit_decreasing
from lingshu.train.tables import Table, group_rows, group_tables

COMMON = CommonTrainConfig(synthetic_dir="")


@pytest.fixture(scope="module")
def processor(mini_repo):
    return load_processor(mini_repo / "models/base")


# --- the previous data module, as it was written over lists -------------------------------------------

def _old_measure(row: dict, processor, store, system_prompt: str) -> int:
    counts = []
    for key in row["images"]:
        with Image.open(io.BytesIO(store.read(key))) as img:
            width, height = img.size
        merge = processor.image_processor.merge_size ** 2
        counts.append(processor.image_processor.get_number_of_image_patches(height, width, {}) // merge)
    text = render(row["conversations"], counts, system_prompt)[0]
    return len(processor.tokenizer(text, add_special_tokens=False)["input_ids"])


def _old_first_fit_decreasing(lengths: list[int], max_length: int) -> list[list[int]]:
    bins, room = [], []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        free = next((b for b, r in enumerate(room) if lengths[index] <= r), None)
        if free is None:
            bins.append([index])
            room.append(max_length - lengths[index])
        else:
            bins[free].append(index)
            room[free] -= lengths[index]
    return bins


def reference_rows(repo: Path, common: CommonTrainConfig, stage, processor) -> tuple[list[list[str]], Counter]:
    """Sample ids per training row and the data stats, computed as the list-based data module computed them."""
    rng = random.Random(common.seed)
    chosen = []
    for group, weight in sorted(stage.groups.items()):
        if weight == 0:
            continue
        tables = [table_files(d)[group] for d in common.table_dirs(repo) if group in table_files(d)]
        rows = [r for paths in tables for r in read_table(paths).to_pylist() if r["split"] == "train"
                and (not stage.tasks or r["task"] in stage.tasks) and (not stage.require_images or r["images"])]
        whole, fraction = int(weight), weight - int(weight)
        chosen += rows * whole + rng.sample(rows, round(fraction * len(rows)))
    rng.shuffle(chosen)
    stats, kept, keep = Counter(), [], []
    for sample in chosen:
        length = _old_measure(sample, processor, image_stores(common, repo), common.system_prompt)
        too_long = length > stage.max_length
        if too_long and sample["images"]:
            stats["skipped_too_long"] += 1
            continue
        stats["kept"] += 1
        stats["truncated"] += int(too_long)
        kept.append(sample)
        keep.append(min(length, stage.max_length))
    rows = _old_first_fit_decreasing(keep, stage.max_length) if stage.packing else [[i] for i in range(len(kept))]
    stats["rows"], stats["tokens_per_epoch"] = len(rows), sum(keep)
    return [[kept[i]["id"] for i in row] for row in rows], stats


def _rows_of(data: MixtureDataModule) -> list[list[str]]:
    ids = data.dataset.table.select_columns(["id"])
    return [[ids[int(p)]["id"] for p in data.dataset.samples_of(i)] for i in range(len(data.dataset))]


MIXTURES = {
    "repeats_and_fractions": dict(groups={"medical_multimodal": 1.5, "general_text": 0.5, "medical_caption": 2}),
    "a_dropped_group_and_a_task_filter": dict(groups={"medical_multimodal": 1, "general_text": 0, "medical_caption": 0.7},
                                              tasks=["caption"]),
    "images_only": dict(groups={"medical_multimodal": 0.25, "general_text": 3}, require_images=True),
    "truncated_and_skipped": dict(max_length=24),
    "packed": dict(groups={"medical_multimodal": 2.5, "general_text": 1, "medical_caption": 1}, packing=True),
    "packed_truncated_and_skipped": dict(packing=True, max_length=24),
}


@pytest.mark.parametrize("name", list(MIXTURES))
def test_rows_order_and_stats_are_the_previous_data_modules(mini_repo, stage_cfg, processor, name, tmp_path):
    stage = stage_cfg(**MIXTURES[name])
    common = replace(COMMON, seed=3, data_cache=str(tmp_path / "cache"))
    data = MixtureDataModule(common, stage, processor, mini_repo)
    data.prepare_data()
    data.setup()
    rows, stats = reference_rows(mini_repo, common, stage, processor)
    assert _rows_of(data) == rows
    assert dict(data.stats) == dict(stats)
    if name.startswith("truncated"):
        assert stats["truncated"] and stats["skipped_too_long"]  # the mixture exercises both rules


def test_a_row_encodes_its_samples_from_the_tables(mini_repo, stage_cfg, processor, tmp_path):
    from lingshu.train.chat import encode, load_images

    stage = stage_cfg(packing=True)
    data = MixtureDataModule(replace(COMMON, data_cache=str(tmp_path / "cache")), stage, processor, mini_repo)
    data.setup()
    by_id = {r["id"]: r for g in stage.groups for r in group_rows(data.data_dirs, g, data.cache_dir)}
    row = max(range(len(data.dataset)), key=lambda i: len(data.dataset.samples_of(i)))
    got = data.dataset[row]
    assert len(got) > 1
    for encoded, sample_id in zip(got, _rows_of(data)[row]):
        sample = by_id[sample_id]
        expected = encode(sample["conversations"], load_images(sample["images"], data.store), processor, stage.max_length)
        assert encoded.input_ids == expected.input_ids and encoded.labels == expected.labels


def test_epoch_order_is_random_shuffle_of_the_rows():
    for n, seed, epoch in ((1, 0, 0), (17, 3, 1), (1000, 5, 2)):
        expected = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(expected)
        assert EpochSampler(n, seed).order(epoch).tolist() == expected


# --- lengths: computed once, reused, invalidated by what they depend on ---------------------------------

def _tables(mini_repo, cache: Path) -> list[Table]:
    return [t for g in ("medical_multimodal", "general_text") for t in group_tables(COMMON.table_dirs(mini_repo), g, cache)]


def _lengths(tables, processor, store, cache, system_prompt="", workers=1):
    return cached_lengths([(t.fingerprint, t.dataset) for t in tables], Measure(processor, store, system_prompt), cache,
                          workers)


def test_lengths_are_the_per_sample_measure_computed_once_then_reused(mini_repo, processor, tmp_path, capfd, monkeypatch):
    import lingshu.train.lengths

    monkeypatch.setattr(lingshu.train.lengths, "ROWS_PER_PROCESS", 8)  # two map processes even for small tables
    cache, store = tmp_path / "cache", image_stores(COMMON, mini_repo)
    tables = _tables(mini_repo, cache)
    first = _lengths(tables, processor, store, cache, workers=2)
    assert capfd.readouterr().err.count("token lengths computed") == 1
    for table, lengths in zip(tables, first):
        rows = table.dataset.to_list()
        assert lengths.tolist() == [_old_measure(r, processor, store, "") for r in rows]
    again = _lengths(tables, processor, store, cache)
    assert "token lengths computed" not in capfd.readouterr().err
    assert all(np.array_equal(a, b) for a, b in zip(first, again))

    prompted = _lengths(tables, processor, store, cache, system_prompt="You are a radiologist.")
    assert "token lengths computed" in capfd.readouterr().err  # the system prompt is part of every length
    assert all((p > f).all() for p, f in zip(prompted, first))


def test_the_length_key_follows_the_chat_rendering_and_the_processor(mini_repo, processor, monkeypatch):
    import lingshu.train.lengths

    measure = Measure(processor, image_stores(COMMON, mini_repo), "")
    key = measure.key()
    assert Measure(processor, image_stores(COMMON, mini_repo), "").key() == key
    rendered = lingshu.train.lengths.render
    monkeypatch.setattr(lingshu.train.lengths, "render",
                        lambda turns, counts, system="": (rendered(turns, counts, system)[0] + "\n", []))
    assert measure.key() != key  # a changed chat template changes every length
    monkeypatch.setattr(lingshu.train.lengths, "render", rendered)
    monkeypatch.setattr(processor.image_processor, "merge_size", 1)
    assert measure.key() != key


def test_a_rewritten_table_invalidates_its_lengths_only(mini_repo, processor, tmp_path, capfd):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(mini_repo / "data", repo / "data")
    cache, store = tmp_path / "cache", image_stores(COMMON, repo)
    _lengths(_tables(repo, cache), processor, store, cache)
    capfd.readouterr()
    table = repo / "data/curated/general_text/part-000-00000.parquet"
    rows = pq.read_table(table)
    pq.write_table(rows.slice(0, 5), table)  # a new version of one table
    lengths = _lengths(_tables(repo, cache), processor, store, cache)
    assert "computed: 5 rows" in capfd.readouterr().err  # only the changed table is measured again
    assert len(lengths[-1]) == 5


def test_rl_prompt_lengths_are_the_encoded_lengths_and_cached(mini_repo, processor, tmp_path, capfd):
    from lingshu.rl.config import SelectionConfig
    from lingshu.rl.run import prompt_lengths, user_turn
    from lingshu.rl.selection import select_prompts
    from lingshu.train.chat import encode, load_images

    cache, store = tmp_path / "cache", image_stores(COMMON, mini_repo)
    cfg = SelectionConfig(groups=["medical_multimodal", "general_text"], yes_no_share=1.0, balance_ratio=0, max_samples=0)
    prompts = select_prompts(COMMON.table_dirs(mini_repo), cfg, cache).prompts
    measure = Measure(processor, store, "")
    lengths = prompt_lengths(prompts, measure, cache)
    assert any(p.images for p in prompts) and any(not p.images for p in prompts)
    assert lengths.tolist() == [len(encode(user_turn(p), load_images(p.images, store), processor, 1 << 30)) for p in prompts]
    assert capfd.readouterr().err.count("token lengths computed") == 1
    assert prompt_lengths(prompts, measure, cache).tolist() == lengths.tolist()
    assert "token lengths computed" not in capfd.readouterr().err


WORKER = """
import sys
from pathlib import Path
from lingshu.model.factory import load_processor
from lingshu.train.chat import image_stores
from lingshu.train.config import CommonTrainConfig
from lingshu.train.lengths import Measure, cached_lengths
from lingshu.train.tables import group_tables

repo, cache, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
common = CommonTrainConfig(synthetic_dir="")
tables = group_tables(common.table_dirs(repo), "medical_multimodal", cache)
measure = Measure(load_processor(repo / "models/base"), image_stores(common, repo), "")
lengths = cached_lengths([(t.fingerprint, t.dataset) for t in tables], measure, cache, 1)
out.write_text(",".join(str(int(x)) for part in lengths for x in part))
"""


def test_of_processes_started_together_one_computes_the_lengths_and_all_get_them(mini_repo, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    runs = [subprocess.Popen([sys.executable, "-c", WORKER, str(mini_repo), str(cache), str(tmp_path / f"out{i}")],
                             env=env, stderr=subprocess.PIPE, text=True) for i in range(3)]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    assert sum(e.count("token lengths computed") for e in errors) == 1
    assert len({(tmp_path / f"out{i}").read_text() for i in range(3)}) == 1


# --- tables -------------------------------------------------------------------------------------------

def test_a_group_in_shards_reads_like_one_table(mini_repo, tmp_path):
    table = pq.read_table(mini_repo / "data/curated/medical_multimodal/part-000-00000.parquet")
    (tmp_path / "sharded/medical_multimodal").mkdir(parents=True)
    for i, start in enumerate(range(0, table.num_rows, 12)):
        pq.write_table(table.slice(start, 12), tmp_path / f"sharded/medical_multimodal/part-{i:05d}.parquet")
    (tmp_path / "single").mkdir()
    pq.write_table(table, tmp_path / "single/medical_multimodal.parquet")
    one = list(group_rows([tmp_path / "single"], "medical_multimodal", tmp_path / "c1", split="test"))
    shards = list(group_rows([tmp_path / "sharded"], "medical_multimodal", tmp_path / "c2", split="test"))
    assert len(group_tables([tmp_path / "sharded"], "medical_multimodal", tmp_path / "c2")) == 4
    assert shards == one and len(one) == 10 and isinstance(one[0]["meta"], dict)


def test_an_empty_table_and_a_missing_group(tmp_path, mini_repo):
    empty = pq.read_table(mini_repo / "data/curated/general_text/part-000-00000.parquet").slice(0, 0)
    (tmp_path / "t").mkdir()
    pq.write_table(empty, tmp_path / "t/general_text.parquet")
    assert list(group_rows([tmp_path / "t"], "general_text", tmp_path / "c")) == []
    with pytest.raises(FileNotFoundError, match="medical_cot"):
        group_tables([tmp_path / "t"], "medical_cot", tmp_path / "c")
    with pytest.raises(ValueError, match="unknown data group"):
        group_tables([tmp_path / "t"], "radiology", tmp_path / "c")


# --- packing ------------------------------------------------------------------------------------------

def test_first_fit_decreasing_is_the_sample_by_sample_algorithm():
    rng = random.Random(0)
    for _ in range(200):
        max_length = rng.choice([8, 33, 512])
        lengths = [rng.choice([rng.randint(1, max_length), rng.randint(1, max(1, max_length // 5)), max_length])
                   for _ in range(rng.randint(0, 200))]
        members, offsets = first_fit_decreasing(lengths, max_length)
        assert [members[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])] == \
            _old_first_fit_decreasing(lengths, max_length)


# --- loading in workers -------------------------------------------------------------------------------

def _loader(data: MixtureDataModule):
    import pytorch_lightning as pl

    data.trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                              enable_progress_bar=False, enable_model_summary=False)
    return data.train_dataloader()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)


def test_workers_load_the_same_batches_and_a_restored_loader_starts_at_the_next_row(mini_repo, stage_cfg, processor,
                                                                                  tmp_path):
    stage = stage_cfg(packing=True, batch_size=2)
    batches = {}
    for workers in (0, 2):
        common = replace(COMMON, num_workers=workers, data_cache=str(tmp_path / "cache"))
        data = MixtureDataModule(common, stage, processor, mini_repo)
        data.setup()
        loader = _loader(data)
        batches[workers] = list(loader)
        loader.load_state_dict({"epoch": 0, "batches_done": 3})  # as restored from a checkpoint taken after 3 batches
        resumed = list(loader)
        assert len(resumed) == len(batches[workers]) - 3
        assert all(_same(a, b) for a, b in zip(resumed, batches[workers][3:]))
    assert len(batches[0]) > 3 and all(_same(a, b) for a, b in zip(batches[0], batches[2], strict=True))
    assert any("pixel_values" in b for b in batches[2])
