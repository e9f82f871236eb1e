"""The `synthesize` stage's work: run every enabled generator, check the accounting, write tables and metrics.

Outputs (all under `output_dir`): one Parquet table per synthetic data group in the curated schema (always
written, empty when nothing was made, so training can name the group either way), `rejected.parquet` with
one row per rejected attempt and its reason, and `images/`, the store of rendered and boxed images.
Nothing is written unless every generator's attempts equal its accepted plus rejected.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from lingshu.data.schema import ARROW_SCHEMA, Sample, check_sample
from lingshu.data.store import ImageStore
from lingshu.io import atomic_write_bytes, atomic_write_json, write_parquet
from lingshu.synth.captions import long_captions
from lingshu.synth.config import SynthesizeConfig
from lingshu.synth.cot import chain_of_thought
from lingshu.synth.facts import gather_facts
from lingshu.synth.gallery import write_gallery
from lingshu.synth.ledger import Ledger
from lingshu.synth.llm import LLM
from lingshu.synth.mcq import subset
from lingshu.synth.ocr import ocr
from lingshu.synth.templates import load_templates
from lingshu.synth.vqa import self_instruct_vqa, template_vqa
from lingshu.synth.workspace import Workspace

OUTPUT_GROUPS = ("medical_caption", "synthetic_multimodal", "medical_cot")
REJECTED_SCHEMA = pa.schema([("id", pa.string()), ("generator", pa.string()), ("step", pa.string()),
                             ("reason", pa.string()), ("detail", pa.string()), ("source_ids", pa.list_(pa.string())),
                             ("provenance_file", pa.string())])


def open_workspace(cfg: SynthesizeConfig, repo: Path) -> Workspace:
    llm, why = (LLM(cfg.llm, repo), "") if cfg.llm.configured() else (None, cfg.llm.why_unconfigured())
    out = repo / cfg.output_dir
    return Workspace(cfg, repo, load_templates(repo / cfg.templates_dir), llm, why, ImageStore(repo / cfg.image_store),
                     ImageStore(out / "images"), Path(tempfile.mkdtemp(prefix="lingshu-synth-images-")))


def synthesize(cfg: SynthesizeConfig, repo: Path) -> tuple[dict[str, Any], list[Sample], list[dict]]:
    """(metrics, accepted samples, rejected rows); also writes every output."""
    ws = open_workspace(cfg, repo)
    try:
        return _generate(cfg, repo, ws)
    finally:
        ws.close()


def _generate(cfg: SynthesizeConfig, repo: Path, ws: Workspace) -> tuple[dict[str, Any], list[Sample], list[dict]]:
    input_dir = repo / cfg.input_dir
    ledgers: dict[str, Ledger] = {}
    samples: list[Sample] = []
    gallery: list[tuple[Path, str, str]] = []

    def ledger(name: str) -> Ledger:
        return ledgers.setdefault(name, Ledger(name))

    gathered: dict[tuple[str, ...], list] = {}  # both generators read the same groups by default: read once

    def facts_of(groups: list[str]) -> list:
        key = tuple(groups)
        if key not in gathered:
            gathered[key] = gather_facts(input_dir, list(key), ws.templates.aliases, set(ws.templates.names["plane"]))
        return gathered[key]

    caption_facts = subset(facts_of(cfg.captions.groups), cfg.captions.max_images, ws.rng("long_caption"))
    vqa_facts = subset(facts_of(cfg.vqa.groups), cfg.vqa.max_images, ws.rng("vqa"))
    if cfg.captions.enabled:
        made, prepared = long_captions(ws, caption_facts, ledger("long_caption"))
        samples += made
        gallery += [(ws.image_path(p.boxed_image), "ROI boxes (step 2)", p.short_caption) for p in prepared if p.boxed_image]
    if cfg.vqa.template:
        samples += template_vqa(ws, vqa_facts, ledger("vqa_template"))
    if cfg.vqa.self_instruct:
        if ws.llm is None:
            ledger("vqa_self_instruct").skipped = f"needs an LLM: {ws.why_no_llm}"
        else:
            samples += self_instruct_vqa(ws, vqa_facts, ledger("vqa_self_instruct"))
    if cfg.ocr.enabled:
        samples += ocr(ws, ledger("ocr"))
    if cfg.cot.enabled:
        samples += chain_of_thought(ws, ledger("cot"))
    broken = [name for name, book in ledgers.items() if not book.conserved()]
    if broken:
        raise RuntimeError(f"synthesize: accounting does not add up for {broken}: "
                           + "; ".join(json.dumps(ledgers[b].summary()) for b in broken))
    for sample in samples:
        check_sample(sample)  # a generator bug must fail loudly, not write a malformed row
    rejected = [r.to_row() for book in ledgers.values() for r in book.rejections]
    metrics = _metrics(cfg, ws, ledgers, samples)
    _write(cfg, repo, ws, samples, rejected, metrics, ledgers, gallery)
    return metrics, samples, rejected


def _metrics(cfg: SynthesizeConfig, ws: Workspace, ledgers: dict[str, Ledger], samples: list[Sample]) -> dict[str, Any]:
    per_group = {g: sum(s.group == g for s in samples) for g in OUTPUT_GROUPS}
    summaries = {name: book.summary() for name, book in sorted(ledgers.items())}
    return {
        "llm": {"configured": ws.llm is not None, "backend": cfg.llm.backend, "model": cfg.llm.model,
                "why_not": ws.why_no_llm},
        "generators": summaries,
        "skipped": {name: s["skipped_because"] for name, s in summaries.items() if s["skipped_because"]},
        "totals": {key: sum(s[key] for s in summaries.values())
                   for key in ("attempts", "accepted", "rejected", "llm_calls", "llm_cached_calls", "tokens_in",
                               "tokens_out")} | {"cost_usd": round(sum(s["cost_usd"] for s in summaries.values()), 6)},
        "rows_per_group": per_group,
    }


def _gallery_entries(ws: Workspace, samples: list[Sample], size: int) -> list[tuple[Path, str, str]]:
    """Image samples chosen round-robin across generators, so every generator shows up."""
    by_generator: dict[str, list[Sample]] = {}
    for sample in samples:
        if sample.images:
            by_generator.setdefault(sample.source, []).append(sample)
    entries, depth = [], 0
    while len(entries) < size and any(depth < len(v) for v in by_generator.values()):
        for name, items in sorted(by_generator.items()):
            if depth < len(items) and len(entries) < size:
                s = items[depth]
                text = f"{s.text_of('user')}\n=> {s.text_of('assistant')}"
                entries.append((ws.image_path(s.images[0]), name, text))
        depth += 1
    return entries


def _write(cfg: SynthesizeConfig, repo: Path, ws: Workspace, samples: list[Sample], rejected: list[dict],
           metrics: dict[str, Any], ledgers: dict[str, Ledger], roi_gallery: list) -> None:
    out = repo / cfg.output_dir
    for group in OUTPUT_GROUPS:
        write_parquet(out / f"{group}.parquet", [s.to_row() for s in samples if s.group == group], ARROW_SCHEMA)
    write_parquet(out / "rejected.parquet", rejected, REJECTED_SCHEMA)
    atomic_write_json(repo / cfg.metrics_file, metrics)
    plots = repo / cfg.plots_dir
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["generator", "outcome", "samples"])
    for name, book in sorted(ledgers.items()):
        writer.writerow([name, "accepted", book.accepted])
        writer.writerow([name, "rejected", sum(book.rejected.values())])
    atomic_write_bytes(plots / "yield.csv", buffer.getvalue().encode())
    entries = roi_gallery[: cfg.gallery_size // 3] + _gallery_entries(ws, samples, cfg.gallery_size)
    write_gallery(entries[: cfg.gallery_size], plots / "gallery.png")
    ws.pack_images(samples)
