"""The per-record half of curation: everything about one record that depends on no other record.

De-identification, the caption length filter, image inspection (decode, pHash, sha256, store put — the
expensive part) and the text sketches used by decontamination and near-duplicate detection. Because it
needs nothing from other records, it runs in Ray tasks on shards of the sources (`lingshu.data.reading`);
what it finds travels with the record to the order-dependent decisions (`lingshu.data.resolve`). The image
store is content-addressed and its writes are atomic, so tasks putting the same image at once is safe.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace

from lingshu.config import CurateConfig
from lingshu.data.decontam import Fingerprint, BenchmarkItem
from lingshu.data.dedup import MinHasher, TextCandidate, TextSketch
from lingshu.data.deid import deidentify
from lingshu.data.images import ImageInfo, inspect_image
from lingshu.data.schema import BadRecord, ImageSource, Rejected, Sample
from lingshu.data.store import ImageStore

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Caption length in word-piece tokens (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


# Distinct images an ImageChecker remembers (about 1.5 KB each). Records about the same image mostly follow
# one another; one whose image was forgotten costs a second decode and gets the same result (inspection is
# deterministic and the store content-addressed). Remembering every image made a read task's memory grow with
# its source: 750 MB per task on the 1M-record scale corpus (benchmarks/README.md, "Curation at scale").
REMEMBERED_IMAGES = 4096


class ImageChecker:
    """Inspects each image (once while it is among the last REMEMBERED_IMAGES seen) and puts it in the
    content-addressed store (when there is one: an audit only fingerprints)."""

    def __init__(self, cfg: CurateConfig, store: ImageStore | None, remembered: int = REMEMBERED_IMAGES):
        self.cfg, self.store, self.remembered = cfg, store, remembered
        self.cache: OrderedDict[str, tuple[ImageInfo | BadRecord, str | None]] = OrderedDict()

    def inspect(self, image: ImageSource) -> tuple[ImageInfo, str | None]:
        """The image's fingerprint and its store key (None without a store); BadRecord when it is unusable."""
        entry = self.cache.get(image.ref)
        if entry is None:
            try:
                info, stored = inspect_image(image.read(), self.cfg.min_image_side, self.cfg.max_image_pixels,
                                             self.cfg.jpeg_draft)
                entry = (info, None if self.store is None else self.store.put(info.sha256, info.ext, stored))
            except BadRecord as bad:
                entry = (bad, None)
            self.cache[image.ref] = entry
            if len(self.cache) > self.remembered:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(image.ref)
        if isinstance(entry[0], BadRecord):
            raise entry[0]
        return entry

    def __call__(self, image: ImageSource) -> ImageInfo:
        return self.inspect(image)[0]


@dataclass
class Screened:
    """What screening one record found: a rejection, or what the order-dependent steps need to decide."""

    rejected: Rejected | None = None
    conversations: list[dict[str, str]] | None = None  # de-identified turns, when anything was replaced
    replaced: Counter = field(default_factory=Counter)  # de-identification replacements by kind
    images: list[tuple[str, ImageInfo]] = field(default_factory=list)  # (store key, fingerprint) per image
    overlap: TextSketch | None = None  # training samples: the text checked against benchmarks
    text: TextCandidate | None = None  # training samples other than captions: the near-duplicate check's input


class Screener:
    """Screens records and fingerprints benchmark items (one per worker: it caches the images it has inspected)."""

    def __init__(self, cfg: CurateConfig, store: ImageStore | None):
        self.cfg = cfg
        self.check_image = ImageChecker(cfg, store)
        self.hasher = MinHasher(cfg.minhash_num_perm)

    def fingerprint(self, text: str, images: list[ImageSource]) -> tuple[Fingerprint, int]:
        """The pHashes of the readable images and the text's sketch, and how many images could not be read."""
        phashes, unreadable = [], 0
        for image in images:
            try:
                phashes.append(self.check_image(image).phash)
            except BadRecord:
                unreadable += 1
        return Fingerprint(phashes, self.hasher.sketch(text)), unreadable

    def benchmark_item(self, item: BenchmarkItem) -> Fingerprint:
        return self.fingerprint(item.text, item.images)[0]

    def record(self, sample: Sample) -> Screened:
        """Screen one record; `sample` itself is left unchanged (the deciding process applies the result)."""
        longest = max((len(turn["content"]) for turn in sample.conversations), default=0)
        if longest > self.cfg.max_text_chars:
            return Screened(Rejected.of(sample, "text_too_long", f"a turn of {longest} characters > "
                                        f"{self.cfg.max_text_chars}", "length"))
        screened = Screened()
        conversations = [dict(turn) for turn in sample.conversations]
        if sample.split == "train" and self.cfg.deidentify:  # before the length filter: it can change lengths
            for turn in conversations:
                turn["content"] = deidentify(turn["content"], screened.replaced)
            if screened.replaced:
                screened.conversations = conversations
        view = replace(sample, conversations=conversations)
        if sample.task == "caption":
            n = count_tokens(view.text_of("assistant"))
            if n < self.cfg.caption_min_tokens:
                return Screened(Rejected.of(sample, "caption_too_short", f"{n} tokens < {self.cfg.caption_min_tokens}",
                                            "length"))
            if n > self.cfg.caption_max_tokens:
                return Screened(Rejected.of(sample, "caption_too_long", f"{n} tokens > {self.cfg.caption_max_tokens}",
                                            "length"))
        for image in sample.images:
            try:
                info, key = self.check_image.inspect(image)
            except BadRecord as bad:
                return Screened(Rejected.of(sample, bad.reason, f"{image.ref}: {bad.detail}", "image"))
            screened.images.append((key, info))
        if sample.split == "train":
            overlap = view.overlap_text()
            screened.overlap = self.hasher.sketch(overlap)
            if sample.task != "caption":
                text = overlap + "\n" + view.text_of("assistant")
                signature = ",".join(info.sha256 for _, info in screened.images)
                screened.text = TextCandidate.of(signature, text, self.hasher)
        return screened
