"""What every generator shares in one run: config, templates, the LLM (or why there is none), image stores.

Generators stay small functions of (workspace, ledger) because everything with state lives here: the
LLM client whose calls are charged to the calling generator's ledger, and the content-addressed store the
synthetic images go to (the curated store belongs to the curate stage and is only read). Prompts and the
gallery take image files: a synthetic image is its staged file until the run packs the store, and a curated
one is exported from the curated store's shards into the run's scratch folder.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from lingshu.data.schema import Sample, user_content
from lingshu.data.store import ImageStore
from lingshu.synth.config import SynthesizeConfig
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import LLM, Completion, Prompt
from lingshu.synth.templates import Templates


@dataclass
class Workspace:
    cfg: SynthesizeConfig
    repo: Path
    templates: Templates
    llm: LLM | None
    why_no_llm: str
    curated_store: ImageStore
    store: ImageStore
    exports: Path  # scratch folder of curated images exported as files (removed by `close`)

    def rng(self, generator: str) -> random.Random:
        """A seeded generator per synthesiser, so one generator's choices do not shift another's."""
        return random.Random(f"{self.cfg.seed}:{generator}")

    def ask(self, ledger: Ledger, prompts: list[Prompt], desc: str) -> list[Completion]:
        """LLM completions, charged to the ledger (tokens and cost of uncached calls)."""
        if self.llm is None:
            raise RuntimeError(f"no LLM configured: {self.why_no_llm}")
        if not prompts:
            return []
        completions = self.llm.complete(prompts, desc=desc)
        ledger.charge(completions, self.cfg.prices.get(self.llm.model))
        return completions

    def image_path(self, key: str) -> Path:
        """A synthetic or curated image as a file (keys are content hashes, so they cannot collide)."""
        staged = self.store.staging / key
        return staged if staged.is_file() else self.curated_store.export(key, self.exports)

    def close(self) -> None:
        shutil.rmtree(self.exports, ignore_errors=True)

    def put_image(self, image: Image.Image, fmt: str = "PNG", **save_args) -> str:
        """Store an image by the hash of its encoded bytes; returns its key."""
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **save_args)
        data = buffer.getvalue()
        ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
        return self.store.put(hashlib.sha256(data).hexdigest(), ext, data)

    def pack_images(self, samples: list[Sample]) -> int:
        """Write the synthetic store: the staged images the accepted samples use; returns how many were left out."""
        return self.store.pack({key for sample in samples for key in sample.images} & self.store.staged())


def synthetic_sample(*, id: str, generator: str, group: str, task: str, question: str, answer: str,
                     images: list[str], modality: str | None, body_part: str | None, licence: str,
                     provenance_file: str, source_ids: list[str], steps: dict) -> Sample:
    """A synthetic sample in the curated schema; meta carries the generator, its step outputs and source ids."""
    return Sample(
        id=id, source=generator, group=group, task=task,
        conversations=[{"role": "user", "content": user_content(question, len(images))},
                       {"role": "assistant", "content": answer}],
        images=list(images), modality=modality if images else "text", modality_source="metadata",
        body_part=body_part, licence=f"{licence} (synthetic derivative)" if licence else "synthetic",
        split="train", provenance_file=provenance_file, provenance_record=",".join(source_ids),
        meta={"generator": generator, "source_ids": list(source_ids), "steps": steps, "question": question},
    )
