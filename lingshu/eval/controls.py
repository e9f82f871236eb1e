"""Image controls: every image question asked again with each image blanked, or with no image at all.

A multimodal benchmark score says little about whether a model looks at its images: VQA answers can come
from priors in the question's wording. Asking the same questions again with a black image of the same
size (`blank_image`: same prompt, same number of visual tokens, no content) or without the image
(`text_only`, for models that take text alone) and comparing question by question (real − control,
paired) measures what the image contributed. Control answers are recorded and resumed exactly like the
main run's, under `<out>/<benchmark>/<control>/`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PIL import Image

from lingshu.eval.benchmark import EvalItem

CONTROLS = ("blank_image", "text_only")
GAP_NAMES = {"blank_image": "real-blank", "text_only": "real-text"}


def gap_column(benchmark: str, control: str) -> str:
    """How reports name a benchmark's per-question real − control difference: `vqa_rad/real-blank`."""
    return f"{benchmark}/{GAP_NAMES[control]}"


def parse_controls(names: list[str] | str) -> list[str]:
    """Control names from params or a comma-separated CLI value; `blank-image` and `blank_image` both work."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    chosen = [n.strip().replace("-", "_") for n in names if n.strip()]
    unknown = sorted(set(chosen) - set(CONTROLS))
    if unknown:
        raise ValueError(f"unknown image control(s) {unknown}; known: {', '.join(c.replace('_', '-') for c in CONTROLS)}")
    return list(dict.fromkeys(chosen))


def blank_like(image: Path, folder: Path) -> Path:
    """A black PNG of the image's size (read from its header), written once per size under `folder`."""
    with Image.open(image) as img:
        size = img.size
    target = folder / f"blank_{size[0]}x{size[1]}.png"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        Image.new("RGB", size).save(partial, format="PNG")
        os.replace(partial, target)
    return target


def control_items(items: list[EvalItem], control: str, folder: Path) -> list[EvalItem]:
    """The items that have images, with their images blanked (`blank_image`, files under `folder`) or removed."""
    with_images = [item for item in items if item.images]
    if control == "text_only":
        return [replace(item, images=[]) for item in with_images]
    if control == "blank_image":
        return [replace(item, images=[blank_like(image, folder / "images") for image in item.images])
                for item in with_images]
    raise ValueError(f"unknown image control {control!r}; known: {', '.join(CONTROLS)}")
