"""Parameters of the `model_init` stage: which backbone, and for the embedded default its size.

`source: tiny` builds a Qwen2.5-VL-architecture model from `tiny` with random weights and a tokenizer
trained on the curated text; any other value is a local checkpoint folder or a hub id (read from the
local HF cache only, since runs are offline) loaded through the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass

from lingshu.fields import doc, nested, required


@dataclass
class TinyConfig:
    """Size of the embedded default model (a real Qwen2.5-VL architecture, just small)."""

    vocab_size: int = doc(4096, "Byte-level BPE vocabulary size the tokenizer is trained to (special tokens included).")
    hidden_size: int = doc(256, "Language model width.")
    num_hidden_layers: int = doc(4, "Language model decoder layers.")
    num_attention_heads: int = doc(4, "Attention heads; head_dim = hidden_size / heads, and mrope_section sums to head_dim/2.")
    num_key_value_heads: int = doc(2, "Grouped-query KV heads.")
    intermediate_size: int = doc(768, "Language model MLP width.")
    max_position_embeddings: int = doc(4096, "Longest position the rotary embedding is set up for.")
    vision_hidden_size: int = doc(128, "Vision encoder width.")
    vision_depth: int = doc(4, "Vision encoder blocks (the last one uses full attention, the others windowed).")
    vision_heads: int = doc(4, "Vision encoder attention heads.")
    vision_intermediate_size: int = doc(384, "Vision encoder MLP width.")
    tie_word_embeddings: bool = doc(False, "Share the input embedding and the LM head.")


@dataclass
class ImageConfig:
    """Resolution the image processor resizes to (pixels, multiples of 28x28 patches-after-merge)."""

    min_pixels: int = doc(3136, "Smallest image area after resizing (56x56).")
    max_pixels: int = doc(12544, "Largest image area after resizing (112x112 = 16 visual tokens); Qwen2.5-VL uses up to 12845056.")

    def problems(self) -> list[str]:
        if not 0 < self.min_pixels <= self.max_pixels:
            return [f"need 0 < min_pixels ({self.min_pixels}) <= max_pixels ({self.max_pixels})"]
        return []


@dataclass(kw_only=True)
class Trainable:
    """Which modules a stage updates; every stage says it for all three."""

    vision: bool = required("Train the vision encoder (patch embedding and blocks).")
    projector: bool = required("Train the vision-language projector (the patch merger).")
    language_model: bool = required("Train the language model (embeddings, decoder layers, LM head).")

    @classmethod
    def everything(cls) -> "Trainable":
        return cls(vision=True, projector=True, language_model=True)


@dataclass
class ModelConfig:
    """The `model_init` stage: build or load the backbone and save it as models/base."""

    source: str = doc("tiny", "tiny (built from `tiny`, random weights) or a local checkpoint path / hub id such as Qwen/Qwen2.5-VL-7B-Instruct.")
    corpus_dirs: list = doc(["data/curated", "data/synthetic"],
                            "Folders of tables whose training-split text trains the tiny tokenizer (missing folders are skipped).")
    tokenizer_min_frequency: int = doc(2, "Pairs seen fewer times are not merged when training the tiny tokenizer.")
    seed: int = doc(0, "Seed of the random initialisation.")
    dtype: str = doc("float32", "Weights dtype to save: float32, bfloat16 or float16.")
    tiny: TinyConfig = nested(TinyConfig, "Architecture of the tiny model (used when source is tiny).")
    image: ImageConfig = nested(ImageConfig, "Image processor resolution (overrides a pretrained processor's when set).")
    metrics_file: str = doc("metrics/model_init.json", "Parameter counts and the base model's held-out metrics.")
