"""The LightningDataModule all three supervised stages share.

It selects the stage's mixture over the memory-mapped tables, takes every sample's token length (text
plus the visual tokens its image will need) from the length cache, drops and counts samples that cannot
fit, groups samples into rows (one per row, or packed), and encodes a row's samples only when the row
is loaded, in the DataLoader's workers (`train.common.num_workers`) when there are any. The lengths are
computed in `prepare_data`, which Lightning runs in one process per node while the others wait; `setup`
in every process then loads them (lingshu.train.lengths). The training loader is resumable: after a
restart it skips the rows the interrupted run already trained on in that epoch, so a resumed stage sees
exactly the data an uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from lingshu.data.store import ImageStores
from lingshu.train.chat import IGNORE, Encoded, FittedImages, any_image, encode, image_stores, image_inputs
from lingshu.train.config import CommonTrainConfig, StageConfig
from lingshu.train.lengths import Measure, cached_lengths
from lingshu.train.mixture import Mixture, chosen_groups, select
from lingshu.train.packing import first_fit_decreasing
from lingshu.train.tables import group_tables, image_counts


def collate(units: list[list[Encoded]], pad_id: int, image_token_id: int, packed: bool) -> dict:
    """Pad rows to the longest; a packed row is its segments concatenated (segment lengths kept)."""
    rows = [[t for e in unit for t in e.input_ids] for unit in units]
    labels = [[t for e in unit for t in e.labels] for unit in units]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    label_t = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(zip(rows, labels)):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        label_t[i, : len(lab)] = torch.tensor(lab)
        attention[i, : len(ids)] = 1
    batch = {
        "input_ids": input_ids,
        "labels": label_t,
        "mm_token_type_ids": (input_ids == image_token_id).long(),
        "n_tokens": int(attention.sum()),
    } | image_inputs([e for unit in units for e in unit])
    if packed:
        batch["segments"] = [[len(e) for e in unit] for unit in units]
    else:
        batch["attention_mask"] = attention
    return batch


def blank_image_row(processor, max_length: int) -> list[Encoded]:
    """A row holding only a user turn with one black image of the smallest size; every label is ignored.

    Appended to a batch without images when several processes train: under ZeRO-3 every rank must gather
    the same parameters in the same order, and under DDP every trainable parameter needs its gradient on
    every rank. A rank whose batch had no image would skip the vision encoder while another ran it, and the
    collectives would stop matching (a hang, or a size-mismatch crash). The row adds nothing to the loss.
    """
    side = math.ceil(math.sqrt(processor.image_processor.size.shortest_edge))  # Qwen2-VL: the fewest pixels
    row = encode([{"role": "user", "content": "<image>"}], [Image.new("RGB", (side, side))], processor, max_length)
    assert row is not None and all(label == IGNORE for label in row.labels)
    return [row]


def ensure_an_image(units: list[list[Encoded]], blank: list[Encoded]) -> list[list[Encoded]]:
    return units if any_image(e for unit in units for e in unit) else [*units, blank]


def with_images(mixture: Mixture) -> np.ndarray:
    """Whether each row of the mixture's tables has an image."""
    return np.concatenate([image_counts(t) > 0 for t in mixture.tables])


class RowDataset(Dataset):
    """Row i -> the encoded samples of that row (a row is one sample, or several when packing).

    Row i holds the samples at positions `positions[offsets[i]:offsets[i + 1]]` of the memory-mapped `table`;
    a sample is read and encoded, its images decoded, only when its row is loaded. Decoded, resized images
    are kept in a bounded cache (FittedImages), one per loading process.
    """

    def __init__(self, table, positions: np.ndarray, offsets: np.ndarray, processor, store: ImageStores, max_length: int,
                 system_prompt: str, image_cache: int = 4096):
        self.table, self.positions, self.offsets, self.processor = table, positions, offsets, processor
        self.max_length, self.system_prompt = max_length, system_prompt
        self.encodable = table.select_columns(["conversations", "images"])
        self.image = FittedImages(store, processor.image_processor, image_cache)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def samples_of(self, index: int) -> np.ndarray:
        """Table positions of row `index`'s samples."""
        return self.positions[self.offsets[index]:self.offsets[index + 1]]

    def __getitem__(self, index: int) -> list[Encoded]:
        unit = []
        for position in self.samples_of(index):
            sample = self.encodable[int(position)]
            images = [self.image(key) for key in sample["images"]]
            unit.append(encode(sample["conversations"], images, self.processor, self.max_length, self.system_prompt))
        return unit


class EpochSampler(Sampler[int]):
    """Row order reshuffled per epoch from the seed, this rank's share of it, minus rows already trained.

    It does the distributed split itself (every rank gets ceil(n / world) rows, the order padded by
    wrapping around as DistributedSampler does), so Lightning need not wrap it and the order is the same
    whatever the strategy. The order is an array shuffled through a memoryview: the same permutation
    `random.shuffle` gives a list, without a Python object per row.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.seed, self.epoch, self.rank, self.world = n, seed, 0, rank, world
        self.resume_at: tuple[int, int] | None = None  # (epoch, rows already trained in it)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> np.ndarray:
        order = np.arange(self.n, dtype=np.int64)
        random.Random(self.seed * 1_000_003 + epoch).shuffle(memoryview(order))
        return order

    def __iter__(self):
        skip = 0
        if self.resume_at is not None and self.resume_at[0] == self.epoch:
            skip = self.resume_at[1]
        self.resume_at = None
        order = self.order(self.epoch)
        order = np.concatenate([order, order[: len(self) * self.world - self.n]])
        return map(int, order[self.rank::self.world][skip:])

    def __len__(self) -> int:
        return -(-self.n // self.world)


class ResumableLoader(DataLoader):
    """A DataLoader Lightning treats as stateful: its position in the epoch is saved in checkpoints."""

    def __init__(self, *args, progress, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress = progress  # () -> (epoch, batches trained in that epoch)

    def state_dict(self) -> dict:
        epoch, done = self._progress()
        return {"epoch": epoch, "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.resume_at = (int(state["epoch"]), int(state["batches_done"]) * (self.batch_size or 1))


class MixtureDataModule(pl.LightningDataModule):
    def __init__(self, common: CommonTrainConfig, stage: StageConfig, processor, repo: Path):
        super().__init__()
        self.common, self.stage, self.processor, self.repo = common, stage, processor, repo
        self.store = image_stores(common, repo)
        self.data_dirs, self.cache_dir = common.table_dirs(repo), common.cache_dir(repo)
        self.stats: Counter = Counter()
        self.dataset: RowDataset | None = None

    def lengths(self, tables) -> np.ndarray:
        """Token lengths of every row of `tables`, concatenated (from the cache, computed when missing)."""
        measure = Measure(self.processor, self.store, self.common.system_prompt)
        parts = cached_lengths([(t.fingerprint, t.dataset) for t in tables], measure, self.cache_dir,
                               self.common.preprocess_workers)
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def prepare_data(self) -> None:
        """Lengths of the stage's tables into the cache: Lightning runs this in one process per node, first."""
        self.lengths([t for g in chosen_groups(dict(self.stage.groups)) for t in group_tables(self.data_dirs, g, self.cache_dir)])

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is not None:
            return
        mixture = select(self.data_dirs, dict(self.stage.groups), list(self.stage.tasks), self.stage.require_images,
                         "train", self.common.seed, self.cache_dir)
        max_length = self.stage.max_length
        lengths = self.lengths(mixture.tables)[mixture.order]
        too_long = lengths > max_length
        skipped = too_long & with_images(mixture)[mixture.order]  # cutting would cut an image
        keep = ~skipped
        if skipped.any():
            self.stats["skipped_too_long"] += int(skipped.sum())
        if not keep.any():
            raise ValueError(f"stage mixture {dict(self.stage.groups)} (tasks {list(self.stage.tasks)}) selects no samples")
        self.stats["kept"] += int(keep.sum())
        self.stats["truncated"] += int((too_long & keep).sum())
        fitted = np.minimum(lengths[keep], max_length)  # the samples that fit, and their (possibly truncated) lengths
        n = len(fitted)
        members, offsets = (first_fit_decreasing(fitted, max_length) if self.stage.packing
                            else (np.arange(n), np.arange(n + 1)))
        self.stats["rows"] = len(offsets) - 1
        self.stats["tokens_per_epoch"] = int(fitted.sum())
        self.dataset = RowDataset(mixture.dataset(), mixture.order[keep][members], offsets, self.processor, self.store,
                                  max_length, self.common.system_prompt)

    def train_dataloader(self) -> DataLoader:
        assert self.dataset is not None
        sampler = EpochSampler(len(self.dataset), self.common.seed, self.trainer.global_rank, self.trainer.world_size)
        tokenizer = self.processor.tokenizer
        trainer = self.trainer
        blank = blank_image_row(self.processor, self.stage.max_length) if trainer.world_size > 1 else None

        def progress() -> tuple[int, int]:
            return trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current.processed

        return ResumableLoader(
            self.dataset,
            batch_size=self.stage.batch_size,
            sampler=sampler,
            num_workers=self.common.num_workers,
            collate_fn=lambda units: collate(ensure_an_image(units, blank) if blank else units, tokenizer.pad_token_id,
                                             self.processor.image_token_id, self.stage.packing),
            progress=progress,
        )
