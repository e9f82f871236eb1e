"""Sequence packing: several samples per row, none attending to another.

Samples are binned first-fit-decreasing into rows of at most max_length tokens. A packed row carries
the lengths of its segments; the model gets position ids that restart at 0 for each segment (plus
the segment's own 3-D multimodal rope positions) and no attention mask, which is what transformers
reads as "packed": its mask builder then lets a token attend only within its own segment.
"""

from __future__ import annotations

import numpy as np
import torch


def first_fit_decreasing(lengths, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices grouped into rows whose lengths sum to at most max_length: row r holds
    `members[offsets[r]:offsets[r + 1]]`, in the order they were placed.

    Exactly first-fit-decreasing (samples longest first, ties by index, each into the first row with room),
    computed a run of equal lengths at a time: the samples of a run fill the rows with room for them in row
    order, each taking as many as fit, then new rows. At corpus scale the sample-by-sample scan over every
    open row would take hours; this takes one vectorised pass over the rows per distinct length.
    """
    lengths = np.asarray(lengths, dtype=np.int32)  # arrays of 4 bytes a sample: a corpus has millions
    order = np.argsort(-lengths, kind="stable").astype(np.int32)
    if len(order) and lengths[order[0]] > max_length:
        raise ValueError(f"sample {order[0]} has {lengths[order[0]]} tokens > max_length {max_length}")
    sizes = lengths[order]
    row_of = np.empty(len(order), dtype=np.int32)  # the row of each sample, in placing order
    room = np.empty(len(order), dtype=np.int32)
    n_rows = 0
    starts = np.flatnonzero(np.diff(sizes, prepend=-1)) if len(sizes) else np.zeros(0, np.int64)
    for start, end in zip(starts, [*starts[1:], len(sizes)]):
        size, count = int(sizes[start]), int(end - start)
        if size == 0:  # fits anywhere: the first row takes them all
            targets, takes = np.array([0]), np.array([count])
            if n_rows == 0:
                room[0], n_rows = max_length, 1
        else:
            open_rows = np.flatnonzero(room[:n_rows] >= size)
            capacity = room[open_rows] // size
            filled = np.cumsum(capacity)
            if len(filled) and filled[-1] >= count:
                used = int(np.searchsorted(filled, count)) + 1
                targets, takes = open_rows[:used], capacity[:used]
                takes[-1] -= filled[used - 1] - count
            else:  # the open rows take what they can, new rows the rest
                placed, per_row = int(filled[-1]) if len(filled) else 0, max_length // size
                new = -(-(count - placed) // per_row)
                fresh = np.full(new, per_row)
                fresh[-1] = count - placed - per_row * (new - 1)
                room[n_rows:n_rows + new] = max_length
                targets = np.concatenate([open_rows, np.arange(n_rows, n_rows + new)])
                takes = np.concatenate([capacity, fresh])
                n_rows += new
        room[targets] -= size * takes
        row_of[start:end] = np.repeat(targets, takes)
    placing = np.argsort(row_of, kind="stable")  # by row, then placing order
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=n_rows))]) if n_rows else np.zeros(1, np.int64)
    return order[placing], offsets


def packed_position_ids(model, input_ids: torch.Tensor, mm_token_type_ids: torch.Tensor,
                        image_grid_thw: torch.Tensor | None, segments: list[list[int]]) -> torch.Tensor:
    """(4, batch, seq) positions: row 0 the per-segment text positions, rows 1-3 Qwen's mrope positions.

    Each segment's mrope positions come from the model's own `get_rope_index`, so they are exactly what
    the same sample gets unpacked. Padding after the last segment is a segment of its own.
    """
    batch, seq = input_ids.shape
    out = torch.zeros(4, batch, seq, dtype=torch.long, device=input_ids.device)
    vision_start = model.config.vision_start_token_id
    image_cursor = 0
    for row, lengths in enumerate(segments):
        start = 0
        for length in list(lengths) + [seq - sum(lengths)]:
            if length == 0:
                continue
            ids = input_ids[row:row + 1, start:start + length]
            n_images = int((ids == vision_start).sum())
            text = torch.arange(length, device=input_ids.device)
            if n_images:
                grids = image_grid_thw[image_cursor:image_cursor + n_images]
                image_cursor += n_images
                mrope, _ = model.model.get_rope_index(ids, mm_token_type_ids[row:row + 1, start:start + length],
                                                      image_grid_thw=grids)
                out[1:, row, start:start + length] = mrope[:, 0]
            else:
                out[1:, row, start:start + length] = text
            out[0, row, start:start + length] = text
            start += length
    return out
