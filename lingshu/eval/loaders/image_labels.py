"""Templated questions about what an image is — its modality, body region and plane — on VQA-RAD's test images.

VQA-RAD's own image-answerable questions are few (69 of 451) and mostly answerable from priors in their
wording ("Is this an MRI?"). This set asks every test image the same multiple-choice questions about
labels a person wrote (MEVF's per-image modality, VQA-RAD's `image_organ`, the plane its open PLANE
answers name), with the other values of the label as options. A model that does not look at the image
can do no better than its favourite answer; the blank-image control measures exactly that gap.

Curation removes every training sample that shows a VQA-RAD test image, so none of these images is
trained on. Items are ordered by a hash of their id, so `limit` takes a sample spread over images and
label types; option order is seeded per item, so the gold letter is spread over A, B, C...
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.vqa_rad import test_records


def image_labels(bench: Benchmark, root: Path) -> dict[str, dict[str, str]]:
    """Test image name -> {label type: value} from the release's fields and the MEVF modality split."""
    aliases = {kind: {str(k).lower(): str(v) for k, v in values.items()}
               for kind, values in bench.options.get("aliases", {}).items()}
    modality: dict[str, str] = {}
    for name in ("trainset.json", "testset.json"):
        for record in json.loads((root / bench.options["modality_from"] / name).read_text()):
            value = str(record.get("modality") or "").strip().lower()
            modality[record["image_name"]] = aliases.get("modality", {}).get(value, value)
    labels: dict[str, dict[str, str]] = {}
    planes: dict[str, list[str]] = {}
    for record in test_records(bench, root):
        image = str(record["image_name"])
        found = labels.setdefault(image, {})
        if modality.get(image):
            found["modality"] = modality[image]
        organ = str(record.get("image_organ") or "").strip().lower()
        if organ:
            found["body_part"] = aliases.get("body_part", {}).get(organ, organ)
        if str(record.get("question_type", "")).upper() == "PLANE" and str(record.get("answer_type", "")).upper() == "OPEN":
            answer = str(record.get("answer", "")).strip().lower()
            planes.setdefault(image, []).append(aliases.get("plane", {}).get(answer, answer))
    for image, answers in planes.items():
        known = [a for a in answers if a in bench.options["names"]["plane"]]
        if known:
            labels[image]["plane"] = max(sorted(set(known)), key=known.count)
    return labels


@register("vqa_rad_image_labels")
def load(bench: Benchmark, root: Path) -> Iterator[EvalItem]:
    names: dict[str, dict[str, str]] = bench.options["names"]
    questions: dict[str, str] = bench.options["questions"]
    max_options = int(bench.options.get("max_options", 4))
    image_dir = (root / bench.path).parent / bench.options.get("image_dir", "images")
    labels = image_labels(bench, root)
    items = []
    for image, found in sorted(labels.items()):
        for kind, value in sorted(found.items()):
            if kind not in questions or value not in names.get(kind, {}):
                continue
            item_id = f"{image}:{kind}"
            rng = random.Random(hashlib.sha256(item_id.encode()).hexdigest())
            others = sorted(v for v in names[kind] if v != value)
            options = [value, *rng.sample(others, min(max_options - 1, len(others)))]
            rng.shuffle(options)
            lettered = {letter: names[kind][v] for letter, v in zip(string.ascii_uppercase, options)}
            gold = string.ascii_uppercase[options.index(value)]
            items.append(EvalItem(id=item_id, question=questions[kind], answer=gold, images=[image_dir / image],
                                  options=lettered, fields={"label": kind, "value": value}))
    items.sort(key=lambda item: hashlib.sha256(item.id.encode()).hexdigest())
    yield from items
