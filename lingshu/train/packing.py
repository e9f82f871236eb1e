"""Sequence packing: several samples per row, none attending to another.

Samples are binned first-fit-decreasing into rows of at most max_length tokens. A packed row carries
the lengths of its segments; the model gets position ids that restart at 0 for each segment (plus
the segment's own 3-D multimodal rope positions) and no attention mask, which is what transformers
reads as "packed": its mask builder then lets a token attend only within its own segment.
"""

from __future__ import annotations

import torch


def first_fit_decreasing(lengths: list[int], max_length: int) -> list[list[int]]:
    """Indices grouped into bins whose lengths sum to at most max_length (longest samples placed first)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        size = lengths[index]
        if size > max_length:
            raise ValueError(f"sample {index} has {size} tokens > max_length {max_length}")
        for b, free in enumerate(room):
            if size <= free:
                bins[b].append(index)
                room[b] -= size
                break
        else:
            bins.append([index])
            room.append(max_length - size)
    return bins


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
