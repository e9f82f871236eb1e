"""What is known for certain about each curated training image: the ground truth every generator builds on.

Facts come from labels a person or a scanner wrote: the sample's modality and body part (from metadata,
not from the fallback classifier), the plane that VQA-RAD's PLANE answers state (open ones, closed
either-or ones, a "yes" to one named plane), closed questions with their answers (clinician knowledge
for the factual caption step), and DICOM descriptive tags. Only the
train split is read, so nothing synthesised can carry a test image or a test answer into training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from lingshu.data.schema import read_table, table_files

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


def plane_answer(question: str, answer: str, closed: bool, aliases: dict[str, str], planes: set[str]) -> str | None:
    """The plane a PLANE question's answer states: an open answer naming a plane; a closed either-or answer
    naming one ("AP or PA?" -> PA); or "yes" to a question naming exactly one plane ("Is this a transverse
    section?" -> axial). Anything else (a "no", a level, an organ) states no plane."""
    said = aliases.get(answer.lower(), answer.lower())
    if said in planes:
        return said
    if closed and answer.lower() == "yes":
        words = question.lower()
        named = {aliases.get(term, term) for term in [*planes, *aliases] if re.search(rf"\b{re.escape(term)}\b", words)}
        named &= planes
        return named.pop() if len(named) == 1 else None
    return None


def gather_facts(input_dir: Path, groups: list[str], aliases: dict[str, dict[str, str]] | None = None,
                 planes: set[str] | frozenset = frozenset()) -> list[ImageFacts]:
    """One ImageFacts per single-image train sample's image, merged across the given curated groups
    (label synonyms mapped through `aliases`: label type -> {synonym: value}; `planes` are the plane
    values a PLANE answer may name)."""
    aliases = aliases or {}
    by_image: dict[str, ImageFacts] = {}
    for group in groups:
        paths = table_files(input_dir).get(group)
        if not paths:
            raise FileNotFoundError(f"synthesize: curated table {input_dir / group} does not exist (run the curate stage)")
        for row in read_table(paths).to_pylist():
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
                closed = meta.get("answer_type") == "CLOSED"
                if closed:
                    facts.qa.append((question, answer))
                if "PLANE" in str(meta.get("question_type", "")):
                    plane = plane_answer(question, answer, closed, aliases.get("plane", {}), set(planes))
                    facts.plane = facts.plane or plane
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
