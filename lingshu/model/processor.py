"""A Qwen2.5-VL processor that needs no video processor, so it runs where torchvision does not.

The stock `Qwen2_5_VLProcessor` insists on a video processor, and Qwen's video processor imports
torchvision, which has no CPU build here. Images are all this platform feeds the model, so this
subclass declares only an image processor (the PIL-based Qwen2-VL one) and a tokenizer. It saves and
loads with `save_pretrained` / `from_pretrained` like any processor, for the tiny model and for real
Qwen2.5-VL checkpoints alike.
"""

from __future__ import annotations

from transformers import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from lingshu.model.tokenizer import IMAGE_PAD, VIDEO_PAD


class ImageOnlyQwenProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor with an image processor and a tokenizer, and no video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or IMAGE_PAD
        self.video_token = getattr(tokenizer, "video_token", None) or VIDEO_PAD
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)


def image_processor(min_pixels: int, max_pixels: int, patch_size: int = 14, merge_size: int = 2) -> Qwen2VLImageProcessorPil:
    """The PIL image processor at a given resolution range."""
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=patch_size,
        merge_size=merge_size,
        temporal_patch_size=2,
    )
