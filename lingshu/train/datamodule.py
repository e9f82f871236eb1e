"""The LightningDataModule all three supervised stages share.

It selects the stage's mixture, measures every sample's token length (text plus the visual tokens
its image will need, from the image header alone), drops and counts samples that cannot fit, groups
samples into rows (one per row, or packed), and encodes a row's samples only when the row is loaded.
The training loader is resumable: after a restart it skips the rows the interrupted run already
trained on in that epoch, so a resumed stage sees exactly the data an uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from lingshu.train.chat import IGNORE, Encoded, FittedImages, any_image, encode, image_folders, image_inputs, render
from lingshu.train.config import CommonTrainConfig, StageConfig
from lingshu.train.mixture import select
from lingshu.train.packing import first_fit_decreasing


def measure(row: dict, processor, store: Path, system_prompt: str) -> int:
    """Token length of a sample without decoding its pixels."""
    counts = []
    merge = processor.image_processor.merge_size ** 2
    for key in row["images"]:
        with Image.open(store / key) as img:
            width, height = img.size
        counts.append(processor.image_processor.get_number_of_image_patches(height, width, {}) // merge)
    text, _ = render(row["conversations"], counts, system_prompt)
    return len(processor.tokenizer(text, add_special_tokens=False)["input_ids"])


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


class RowDataset(Dataset):
    """Row i -> the encoded samples of that row (a row is one sample, or several when packing).

    Decoded, resized images are kept in a bounded cache (FittedImages).
    """

    def __init__(self, samples: list[dict], rows: list[list[int]], processor, store: Path, max_length: int,
                 system_prompt: str, image_cache: int = 4096):
        self.samples, self.rows, self.processor = samples, rows, processor
        self.max_length, self.system_prompt = max_length, system_prompt
        self.image = FittedImages(store, processor.image_processor, image_cache)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> list[Encoded]:
        unit = []
        for i in self.rows[index]:
            sample = self.samples[i]
            images = [self.image(key) for key in sample["images"]]
            encoded = encode(sample["conversations"], images, self.processor, self.max_length, self.system_prompt)
            unit.append(encoded)
        return unit


class EpochSampler(Sampler[int]):
    """Row order reshuffled per epoch from the seed, this rank's share of it, minus rows already trained.

    It does the distributed split itself (every rank gets ceil(n / world) rows, the order padded by
    wrapping around as DistributedSampler does), so Lightning need not wrap it and the order is the same
    whatever the strategy.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.seed, self.epoch, self.rank, self.world = n, seed, 0, rank, world
        self.resume_at: tuple[int, int] | None = None  # (epoch, rows already trained in it)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> list[int]:
        order = list(range(self.n))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def __iter__(self):
        skip = 0
        if self.resume_at is not None and self.resume_at[0] == self.epoch:
            skip = self.resume_at[1]
        self.resume_at = None
        order = self.order(self.epoch)
        order += order[: len(self) * self.world - self.n]
        return iter(order[self.rank::self.world][skip:])

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
        self.store = image_folders(common, repo)
        self.stats: Counter = Counter()
        self.dataset: RowDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is not None:
            return
        samples = select(self.common.table_dirs(self.repo), dict(self.stage.groups), list(self.stage.tasks),
                         self.stage.require_images, "train", self.common.seed)
        lengths = [measure(s, self.processor, self.store, self.common.system_prompt) for s in samples]
        kept, keep = [], []  # the samples that fit, and their (possibly truncated) lengths
        for sample, length in zip(samples, lengths):
            too_long = length > self.stage.max_length
            if too_long and sample["images"]:  # cutting would cut an image
                self.stats["skipped_too_long"] += 1
                continue
            self.stats["kept"] += 1
            self.stats["truncated"] += int(too_long)
            kept.append(sample)
            keep.append(min(length, self.stage.max_length))
        samples = kept
        if not samples:
            raise ValueError(f"stage mixture {dict(self.stage.groups)} (tasks {list(self.stage.tasks)}) selects no samples")
        rows = first_fit_decreasing(keep, self.stage.max_length) if self.stage.packing else [[i] for i in range(len(samples))]
        self.stats["rows"] = len(rows)
        self.stats["tokens_per_epoch"] = sum(keep)
        self.dataset = RowDataset(samples, rows, self.processor, self.store, self.stage.max_length, self.common.system_prompt)

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
