"""Templated questions about what an image is — its modality, body region and plane — on VQA-RAD's test images.

VQA-RAD's own image-answerable questions are few (69 of 451) and mostly answerable from priors in their
wording ("Is this an MRI?"). This set asks every test image the same multiple-choice questions about
labels a person wrote (MEVF's per-image modality, VQA-RAD's `image_organ`, the plane its open PLANE
answers name), with the other values of the label as options. A model that does not look at the image
can do no better than its favourite answer; the blank-image control measures exactly that gap.

Curation removes every training sample that shows a VQA-RAD test image, so none of these images is
trained on. Option order is seeded per item, so the gold letter is spread over A, B, C... Each label is
asked in the forms the YAML words: `open` (the answer is the label's name, scored as a short answer)
and `choice` (multiple choice, scored by its letter).
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from lingshu.eval.benchmark import Benchmark, EvalItem, register
from lingshu.eval.loaders.common import data_folder, image_files
from lingshu.eval.loaders.vqa_rad import PUBLISHED, test_records


def image_labels(bench: Benchmark, root: Path, path: Path) -> dict[str, dict[str, str]]:
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
    for record in test_records(bench, path):
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


def _choice(item_id: str, question: str, value: str, names: dict[str, str], max_options: int, kind: str) -> EvalItem:
    """The label among up to `max_options - 1` other values of it, in a seeded order; the answer is its letter."""
    rng = random.Random(hashlib.sha256(item_id.encode()).hexdigest())
    others = sorted(v for v in names if v != value)
    options = [value, *rng.sample(others, min(max_options - 1, len(others)))]
    rng.shuffle(options)
    return EvalItem(id=item_id, question=question, answer=string.ascii_uppercase[options.index(value)],
                    options={letter: names[v] for letter, v in zip(string.ascii_uppercase, options)},
                    fields={"label": kind, "value": value, "form": "choice"})


def read(bench: Benchmark, root: Path, path: Path) -> Iterator[EvalItem]:
    """Per test image and label: an `open` question (answer: the label's name) and/or a `choice` one (a letter)."""
    names: dict[str, dict[str, str]] = bench.options["names"]
    questions: dict[str, dict[str, str]] = bench.options["questions"]  # form -> label type -> wording
    max_options = int(bench.options.get("max_options", 4))
    image_dir = data_folder(path) / bench.options.get("image_dir", "images")
    items = []
    for image, found in sorted(image_labels(bench, root, path).items()):
        for kind, value in sorted(found.items()):
            if value not in names.get(kind, {}):
                continue
            for form, wording in sorted(questions.items()):
                if kind not in wording:
                    continue
                item_id = f"{image}:{kind}:{form}"
                if form == "choice":
                    item = _choice(item_id, wording[kind], value, names[kind], max_options, kind)
                elif form == "open":
                    item = EvalItem(id=item_id, question=wording[kind], answer=names[kind][value], answer_type="OPEN",
                                    fields={"label": kind, "value": value, "form": "open"})
                else:
                    raise ValueError(f"{bench.source_file}: question form {form!r} is not open or choice")
                item.fetch = image_files(bench, [image_dir / image])
                items.append(item)
    yield from items


register("vqa_rad_image_labels", [replace(PUBLISHED, read=read)])
