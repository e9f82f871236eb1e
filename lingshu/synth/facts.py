"""What is known for certain about each curated training image: the ground truth every generator builds on.

Facts come from labels a person or a scanner wrote: the sample's modality and body part (from metadata,
not from the fallback classifier), the plane from VQA-RAD's open PLANE answers, closed questions with
their answers (clinician knowledge for the factual caption step), and DICOM descriptive tags. Only the
train split is read, so nothing synthesised can carry a test image or a test answer into training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

DICOM_TAGS = ("StudyDescription", "SeriesDescription", "BodyPartExamined", "ViewPosition")


@dataclass
class ImageFacts:
    image: str                       # curated store key
    source: str
    licence: str
    provenance_file: str
    source_ids: list[str] = field(default_factory=list)
    modality: str | None = None
    body_part: str | None = None
    plane: str | None = None
    qa: list[tuple[str, str]] = field(default_factory=list)   # closed question -> its answer
    tags: dict[str, str] = field(default_factory=dict)
    caption: str = ""                # the first curated caption of the image, if it has one

    def labels(self) -> dict[str, str]:
        """The label types template VQA can ask about, for this image."""
        return {k: v for k, v in (("modality", self.modality), ("body_part", self.body_part), ("plane", self.plane)) if v}

    def statements(self) -> list[str]:
        """The facts as short lines for an LLM prompt."""
        lines = [f"{k.replace('_', ' ')}: {v}" for k, v in self.labels().items()]
        lines += [f"{k}: {v}" for k, v in sorted(self.tags.items())]
        lines += [f"Q: {q} A: {a}" for q, a in self.qa]
        return lines


def _meta(row: dict) -> dict:
    meta = row.get("meta")
    return json.loads(meta) if isinstance(meta, str) else (meta or {})


def gather_facts(input_dir: Path, groups: list[str], aliases: dict[str, dict[str, str]] | None = None) -> list[ImageFacts]:
    """One ImageFacts per single-image train sample's image, merged across the given curated groups
    (label synonyms mapped through `aliases`: label type -> {synonym: value})."""
    aliases = aliases or {}
    by_image: dict[str, ImageFacts] = {}
    for group in groups:
        path = input_dir / f"{group}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"synthesize: curated table {path} does not exist (run the curate stage)")
        for row in pq.read_table(path).to_pylist():
            if row["split"] != "train" or len(row["images"]) != 1:
                continue
            key = row["images"][0]
            facts = by_image.setdefault(key, ImageFacts(key, row["source"], row["licence"], (row["provenance"] or {}).get("file", "")))
            facts.source_ids.append(row["id"])
            if row["modality_source"] == "metadata":
                facts.modality = facts.modality or row["modality"]
            facts.body_part = facts.body_part or row["body_part"]
            meta = _meta(row)
            question, answer = meta.get("question"), str(meta.get("answer", "")).strip()
            if question and answer:
                if meta.get("answer_type") == "CLOSED":
                    facts.qa.append((question, answer))
                elif "PLANE" in str(meta.get("question_type", "")):
                    facts.plane = facts.plane or aliases.get("plane", {}).get(answer.lower(), answer.lower())
            facts.tags.update({tag: str(meta[tag]) for tag in DICOM_TAGS if meta.get(tag)})
            if row["task"] == "caption":
                facts.caption = facts.caption or row["conversations"][-1]["content"]
    return sorted(by_image.values(), key=lambda f: f.image)


def label_space(facts: list[ImageFacts]) -> dict[tuple[str, str], list[str]]:
    """(source, label type) -> the sorted distinct values of that label in the source: where distractors come from."""
    space: dict[tuple[str, str], set[str]] = {}
    for item in facts:
        for kind, value in item.labels().items():
            space.setdefault((item.source, kind), set()).add(value)
    return {key: sorted(values) for key, values in space.items()}
