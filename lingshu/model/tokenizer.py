"""The embedded default's tokenizer: byte-level BPE trained offline on the curated corpus.

It carries Qwen2.5-VL's special tokens under their Qwen names, so the processor, the chat format and
the model config treat it exactly like the real Qwen tokenizer, and a chat template in Qwen's format
(images as <|vision_start|><|image_pad|><|vision_end|>) so `apply_chat_template` works on it too.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
VISION_PLACEHOLDER = VISION_START + IMAGE_PAD + VISION_END

# Qwen's chat format; string contents may carry the dataset's "<image>" placeholder.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | replace('<image>', '" + VISION_PLACEHOLDER + "') }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '" + VISION_PLACEHOLDER + "' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (every byte is in the alphabet, so no text is ever out of vocabulary)."""
    if vocab_size <= len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"tokenizer vocab_size {vocab_size} leaves no room beyond the 256 bytes and special tokens")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=PAD,
        extra_special_tokens={"image_token": IMAGE_PAD, "video_token": VIDEO_PAD},
        chat_template=CHAT_TEMPLATE,
        model_max_length=1 << 30,
    )
