"""Build the backbone (tiny, from a config) or load a real checkpoint, through one code path.

Both end up as a transformers image-text-to-text model plus an `ImageOnlyQwenProcessor`, saved with
`save_pretrained` into a plain HF folder that every later stage (and any HF user) reloads with
`from_pretrained`. Loading never reaches the network: tests and the pipeline run with HF_HUB_OFFLINE=1,
so a hub id works only when it is already in the local HF cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer, PreTrainedModel, Qwen2_5_VLConfig
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from lingshu.model.config import ImageConfig, ModelConfig, TinyConfig
from lingshu.model.processor import ImageOnlyQwenProcessor, image_processor
from lingshu.model.tokenizer import IM_END, IMAGE_PAD, PAD, VIDEO_PAD, VISION_END, VISION_START, train_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is not one of {sorted(DTYPES)}")
    return DTYPES[name]


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies over (time, height, width) in Qwen2.5-VL's 1:1.5:1.5 ratio."""
    half = head_dim // 2
    time = half // 4
    height = (half - time) // 2
    return [time, height, half - time - height]


def tiny_config(tiny: TinyConfig, tokenizer) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL config at the tiny size, wired to the trained tokenizer's special token ids."""
    if tiny.hidden_size % tiny.num_attention_heads:
        raise ValueError(f"model.tiny.hidden_size {tiny.hidden_size} is not divisible by num_attention_heads {tiny.num_attention_heads}")
    head_dim = tiny.hidden_size // tiny.num_attention_heads
    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": tiny.hidden_size,
            "intermediate_size": tiny.intermediate_size,
            "num_hidden_layers": tiny.num_hidden_layers,
            "num_attention_heads": tiny.num_attention_heads,
            "num_key_value_heads": tiny.num_key_value_heads,
            "max_position_embeddings": tiny.max_position_embeddings,
            "rope_scaling": {"type": "mrope", "mrope_section": mrope_section(head_dim)},
            "bos_token_id": ids(PAD),
            "eos_token_id": ids(IM_END),
            "pad_token_id": ids(PAD),
            "tie_word_embeddings": tiny.tie_word_embeddings,
        },
        vision_config={
            "depth": tiny.vision_depth,
            "hidden_size": tiny.vision_hidden_size,
            "intermediate_size": tiny.vision_intermediate_size,
            "num_heads": tiny.vision_heads,
            "out_hidden_size": tiny.hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [tiny.vision_depth - 1],
        },
        image_token_id=ids(IMAGE_PAD),
        video_token_id=ids(VIDEO_PAD),
        vision_start_token_id=ids(VISION_START),
        vision_end_token_id=ids(VISION_END),
        tie_word_embeddings=tiny.tie_word_embeddings,
    )


def build_tiny(cfg: ModelConfig, texts: Iterable[str]) -> tuple[PreTrainedModel, ImageOnlyQwenProcessor]:
    """Random-weight tiny Qwen2.5-VL with a tokenizer trained on `texts`."""
    tokenizer = train_tokenizer(texts, cfg.tiny.vocab_size, cfg.tokenizer_min_frequency)
    processor = ImageOnlyQwenProcessor(image_processor(cfg.image.min_pixels, cfg.image.max_pixels), tokenizer)
    torch.manual_seed(cfg.seed)
    model = AutoModelForImageTextToText.from_config(tiny_config(cfg.tiny, tokenizer))
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(IM_END)
    model.generation_config.pad_token_id = tokenizer.convert_tokens_to_ids(PAD)
    return model.to(torch_dtype(cfg.dtype)), processor


def load_processor(path: str | Path, image: ImageConfig | None = None) -> ImageOnlyQwenProcessor:
    """Tokenizer + PIL image processor of a checkpoint folder or cached hub id."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    images = Qwen2VLImageProcessorPil.from_pretrained(str(path))
    if image is not None:
        images.size = {"shortest_edge": image.min_pixels, "longest_edge": image.max_pixels}
    return ImageOnlyQwenProcessor(images, tokenizer, chat_template=getattr(tokenizer, "chat_template", None))


def load_model(path: str | Path, dtype: str = "float32") -> PreTrainedModel:
    """Any image-text-to-text checkpoint (tiny or real), on the CPU until the trainer moves it."""
    return AutoModelForImageTextToText.from_pretrained(str(path), dtype=torch_dtype(dtype))


def save(model: PreTrainedModel, processor: ImageOnlyQwenProcessor, out: Path) -> None:
    """Write a loadable HF checkpoint folder (weights, config, generation config, tokenizer, processor)."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    # transformers records how the tokenizer was loaded (HF_HUB_OFFLINE) among its settings; left in, the same
    # run saves a different tokenizer_config.json with and without that variable, and DVC sees a new checkpoint
    processor.tokenizer.init_kwargs.pop("local_files_only", None)
    processor.save_pretrained(out)


def corpus_texts(data_dirs: list[Path]) -> Iterable[str]:
    """Every training-split turn of every table in the folders: the tiny tokenizer's training text (test splits
    are left out so that not even the vocabulary is fitted to evaluation data)."""
    import pyarrow.parquet as pq

    from lingshu.data.schema import table_files

    tables = [p for d in data_dirs for name, paths in table_files(d).items() if name != "rejected" for p in paths]
    for table in tables:
        for row in pq.read_table(table, columns=["split", "conversations"]).to_pylist():
            if row["split"] == "train":
                for turn in row["conversations"]:
                    yield turn["content"]


def initialise(cfg: ModelConfig, repo: Path) -> tuple[PreTrainedModel, ImageOnlyQwenProcessor]:
    """The base model of the pipeline: tiny from the config, or a pretrained checkpoint."""
    if cfg.source == "tiny":
        return build_tiny(cfg, corpus_texts([repo / d for d in cfg.corpus_dirs]))
    source = repo / cfg.source if (repo / cfg.source).exists() else cfg.source
    return load_model(source, cfg.dtype), load_processor(source, cfg.image)
