"""Seeded generators for the general-domain slices: charts/tables with QA, and simple instructions.

The recipe mixes general multimodal and general text data into training; the embedded default cannot
ship LLaVA-scale corpora, so these generators produce small, honest stand-ins. Every record is labelled
as generated (licence and provenance say so), and record i depends only on (seed, i): changing `count`
adds or removes records without changing the others.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Iterator

from lingshu.config import SourceConfig
from lingshu.data.schema import ImageSource, Rejected, Sample
from lingshu.data.sources import register
from lingshu.data.sources.common import finish, qa_turns

CATEGORY_SETS = (
    ("North", "South", "East", "West", "Central"),
    ("Apples", "Pears", "Plums", "Grapes", "Cherries", "Figs"),
    ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    ("Team A", "Team B", "Team C", "Team D"),
    ("2019", "2020", "2021", "2022", "2023", "2024"),
)
WORDS = ("river", "candle", "orbit", "maple", "violet", "harbor", "quartz", "ladder", "meadow", "pepper",
         "signal", "tunnel", "walnut", "zephyr", "anchor", "bishop", "copper", "dragon", "ember", "falcon")


def _rng(seed: int, index: int) -> random.Random:
    return random.Random(seed * 1_000_003 + index)


def _chart(rng: random.Random) -> tuple[str, dict, list[tuple[str, str]]]:
    """A chart spec and the questions it answers (all answers computed from the spec itself)."""
    kind = rng.choice(("bar", "line", "pie", "table"))
    labels = list(rng.choice(CATEGORY_SETS))[: rng.randint(3, 6)]
    values = [rng.randint(1, 99) for _ in labels]
    top = labels[values.index(max(values))]
    low = labels[values.index(min(values))]
    pick = rng.randrange(len(labels))
    qa = [
        (f"Which category has the highest value in this {kind}?", top),
        (f"Which category has the lowest value in this {kind}?", low),
        (f"What is the value of {labels[pick]}?", str(values[pick])),
        (f"How many categories are shown in this {kind}?", str(len(labels))),
    ]
    if kind == "pie":  # pie slices show shares, not raw values
        qa[2] = (f"Which is larger, {labels[0]} or {labels[-1]}?", labels[0] if values[0] >= values[-1] else labels[-1])
    return kind, {"labels": labels, "values": values, "title": rng.choice(("Sales", "Visits", "Scores", "Counts"))}, qa


def render_chart(kind: str, spec: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2.4), dpi=80)
    labels, values = spec["labels"], spec["values"]
    if kind == "bar":
        ax.bar(labels, values, color="#4C72B0")
    elif kind == "line":
        ax.plot(labels, values, marker="o")
    elif kind == "pie":
        ax.pie(values, labels=labels, textprops={"fontsize": 7})
    else:
        ax.axis("off")
        ax.table(cellText=[[str(v)] for v in values], rowLabels=labels, colLabels=["value"], loc="center")
    ax.set_title(spec["title"], fontsize=9)
    ax.tick_params(labelsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


@register("generated_charts", options=("count", "seed"))
def load_charts(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    seed, count = int(src.options.get("seed", 0)), int(src.options.get("count", 100))
    for index in range(count):
        rng = _rng(seed, index)
        kind, spec, qa = _chart(rng)
        question, answer = rng.choice(qa)
        image = ImageSource(ref=f"generator:charts#{index}", read=lambda k=kind, s=spec: render_chart(k, s))
        modality = "table" if kind == "table" else "chart"
        yield finish(
            Sample(
                id=f"{src.name}:{index}",
                source=src.name,
                group=src.group,
                task="vqa",
                conversations=qa_turns(question, answer, 1),
                images=[image],
                modality=modality,
                modality_source="metadata",
                licence=src.licence,
                split=src.split,
                provenance_file=f"generator:generated_charts seed={seed}",
                provenance_record=f"index={index}",
                meta={"question": question, "chart": kind, "spec": spec},
            )
        )


def _instruction(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(6)
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    words = rng.sample(WORDS, rng.randint(3, 6))
    if kind == 0:
        return f"What is {a} + {b}?", str(a + b)
    if kind == 1:
        return f"What is {a} times {b}?", str(a * b)
    if kind == 2:
        return "Sort these words alphabetically: " + ", ".join(words) + ".", ", ".join(sorted(words))
    if kind == 3:
        sentence = " ".join(words)
        return f'How many words are in the sentence "{sentence}"?', str(len(words))
    if kind == 4:
        return f"Convert {a * 10} centimetres to metres.", f"{a * 10 / 100:g} metres"
    return f"Which number is larger, {a} or {b}?", str(max(a, b)) if a != b else f"They are equal ({a})."


@register("generated_instructions", options=("count", "seed"))
def load_instructions(src: SourceConfig, repo: Path) -> Iterator[Sample | Rejected]:
    seed, count = int(src.options.get("seed", 0)), int(src.options.get("count", 200))
    for index in range(count):
        question, answer = _instruction(_rng(seed, index))
        yield finish(
            Sample(
                id=f"{src.name}:{index}",
                source=src.name,
                group=src.group,
                task="dialogue",
                conversations=qa_turns(question, answer, 0),
                modality="text",
                licence=src.licence,
                split=src.split,
                provenance_file=f"generator:generated_instructions seed={seed}",
                provenance_record=f"index={index}",
                meta={"question": question},
            )
        )
