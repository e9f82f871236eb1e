"""A Qwen2.5-VL processor that needs no video processor, so it runs where torchvision does not; and images
fitted to it ahead of time, so a cached image is resized once however often it is asked about.

The stock `Qwen2_5_VLProcessor` insists on a video processor, and Qwen's video processor imports
torchvision, which has no CPU build here. Images are all this platform feeds the model, so this
subclass declares only an image processor (the PIL-based Qwen2-VL one) and a tokenizer. It saves and
loads with `save_pretrained` / `from_pretrained` like any processor, for the tiny model and for real
Qwen2.5-VL checkpoints alike.
"""

from __future__ import annotations

from PIL import Image
from transformers import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize
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


def fits(image_processor) -> bool:
    """Whether fit_to_processor knows how `image_processor` resizes (the PIL Qwen2-VL one's rule)."""
    return isinstance(image_processor, Qwen2VLImageProcessorPil)


def fit_to_processor(image: Image.Image, image_processor) -> Image.Image:
    """The image resized to exactly the size the PIL Qwen2-VL processor would resize it to.

    The processor then has nothing left to resize, so a cached fitted image costs almost nothing to
    encode again, and the pixels are those of a single resize of the original. Other processors (another
    model family's, under `lingshu eval`) resize their own way: they get the image unchanged.
    """
    if not fits(image_processor):
        return image
    size = image_processor.size

    def resized(height: int, width: int) -> tuple[int, int]:
        return smart_resize(height, width, image_processor.patch_size * image_processor.merge_size,
                            min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])

    height, width = resized(image.height, image.width)
    if (width, height) == image.size or resized(height, width) != (height, width):
        return image   # nothing to do, or (at extreme aspect ratios) the processor would resize the fitted image again
    return image.resize((width, height), image_processor.resample)
