"""A seeded scale corpus for curation: N records in the formats the loaders read, with planted problems and
the answer key that says which records curation must keep or reject, and why.

Why: curation is being moved onto a distributed engine (issue 17), and "the same decisions" has to be
checked on more than the embedded corpus, at sizes the embedded corpus cannot reach. `generate` writes
into one folder:

- `images/`: an `image_folder` source (metadata.jsonl + images in sub-folders of 1000) with several
  questions per image and some captions; `vqa_rad/`: a VQA-RAD-style JSON with its image folder (some
  images wholly in the test split); `mcq.jsonl`: multiple-choice questions (`mcq_jsonl`);
- planted problems (`PLANTS`): re-encoded copies of earlier images (same pHash, other bytes), questions
  that are near-duplicates of earlier ones, copies of benchmark test items (a test image, a test
  question), broken images (corrupt, truncated, zero-byte, 1x1, decompression bomb), missing or escaping
  image paths, invalid JSON lines, invalid UTF-8, missing fields, repeated ids;
- `answer_key.parquet`: one row per record (id, source, expected kept/rejected, curation's reason, the
  plant and the record it copies); `params.yaml`: a params file whose `curate` section points at the
  sources, the benchmarks and output folders inside the corpus (`lingshu.config.load_section("curate", it)`,
  or `python stages/curate.py --params it`); `summary.json`: the counts.

Record i depends on the seed and what came before it only; the same seed and folder give byte-identical
files. Generation streams: records are written as they are made, and what plants refer back to is a
bounded window of recent records, so memory does not grow with N (the set of pHashes taken grows with the
images, which `max_images` caps; beyond it images carry more questions each). `check_answer_key`
compares the key with curated and rejected Parquet outputs, in either layout (`<group>.parquet` or
`<group>/part-*.parquet`).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lingshu.config import CurateConfig
from lingshu.data.schema import table_files
from lingshu.data.scale_records import ImageRecords, McqRecords, Shared
from lingshu.io import atomic_write_json

KEY_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("expected", pa.string()),
                        ("reason", pa.string()), ("plant", pa.string()), ("of", pa.string())])
OUTCOME_SCHEMA = pa.schema([("id", pa.string()), ("expected", pa.string()), ("reason", pa.string())])
MIN_RECORDS = 200


@dataclass(frozen=True)
class Plant:
    """A planted problem: how many per record (at least one per corpus), in which source, and why it goes."""

    kind: str
    source: str
    rate: float
    reason: str


IMAGES, VQA_RAD, MCQ = "scale_images", "scale_vqa_rad", "scale_mcq"
BASE = {IMAGES: 0.55, VQA_RAD: 0.13, MCQ: 0.32}  # shares of the records that are not plants
PLANTS = (
    Plant("reencoded_image", IMAGES, 0.02, "duplicate_image"),
    Plant("reencoded_caption_image", IMAGES, 0.004, "duplicate_image"),
    Plant("near_duplicate_question", IMAGES, 0.01, "near_duplicate_text"),
    Plant("benchmark_image", IMAGES, 0.003, "benchmark_overlap"),
    Plant("short_caption", IMAGES, 0.003, "caption_too_short"),
    Plant("corrupt_image", IMAGES, 0.002, "unreadable_image"),
    Plant("truncated_image", IMAGES, 0.002, "unreadable_image"),
    Plant("zero_byte_image", IMAGES, 0.002, "empty_file"),
    Plant("one_pixel_image", IMAGES, 0.002, "image_too_small"),
    Plant("bomb_image", IMAGES, 0.001, "decompression_bomb"),
    Plant("missing_image", IMAGES, 0.001, "missing_image"),
    Plant("escaping_path", IMAGES, 0.001, "path_escape"),
    Plant("bad_json", IMAGES, 0.002, "invalid_json"),
    Plant("missing_answer", IMAGES, 0.002, "missing_field"),
    Plant("reencoded_image", VQA_RAD, 0.01, "duplicate_image"),
    Plant("benchmark_image", VQA_RAD, 0.002, "benchmark_overlap"),
    Plant("missing_question", VQA_RAD, 0.002, "missing_field"),
    Plant("missing_image", VQA_RAD, 0.001, "missing_image"),
    Plant("near_duplicate_question", MCQ, 0.02, "near_duplicate_text"),
    Plant("benchmark_question", MCQ, 0.005, "benchmark_overlap"),
    Plant("bad_json", MCQ, 0.002, "invalid_json"),
    Plant("invalid_utf8", MCQ, 0.001, "invalid_utf8"),
    Plant("missing_question", MCQ, 0.002, "missing_field"),
    Plant("duplicate_id", MCQ, 0.001, "duplicate_id"),
)


class KeyWriter:
    """The answer key, streamed to Parquet in row groups; counts what it wrote."""

    def __init__(self, path: Path, rows_per_group: int = 20_000):
        self.writer = pq.ParquetWriter(path, KEY_SCHEMA)
        self.rows: list[dict] = []
        self.rows_per_group = rows_per_group
        self.counts: Counter = Counter()

    def __call__(self, id: str, source: str, reason: str = "", plant: str = "", of: str = "") -> None:
        expected = "rejected" if reason else "kept"
        self.rows.append({"id": id, "source": source, "expected": expected, "reason": reason, "plant": plant, "of": of})
        self.counts[(source, expected, reason)] += 1
        if len(self.rows) >= self.rows_per_group:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=KEY_SCHEMA))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def plant_counts(records: int) -> dict[Plant, int]:
    if records < MIN_RECORDS:
        raise ValueError(f"a scale corpus has at least {MIN_RECORDS} records (one of each plant and their originals)")
    return {plant: max(1, round(plant.rate * records)) for plant in PLANTS}


def generate(out: Path, records: int, seed: int, cfg: CurateConfig, benchmarks: list[str], root: Path,
             max_images: int = 200_000) -> dict:
    """Write a corpus of `records` records into the empty or new folder `out`; returns its summary.

    `cfg` gives what curation will apply (image side and pixel limits, JPEG decoding, MinHash permutations,
    thresholds); `benchmarks` are read from `root` as the evaluation reads them."""
    counts = plant_counts(records)
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    key = KeyWriter(out / "answer_key.parquet")
    shared = Shared(random.Random(seed), seed, cfg, key, benchmarks, root)
    plants = {plant: n if shared.can(plant.kind) else 0 for plant, n in counts.items()}
    base = records - sum(plants.values())
    remaining = {(None, name): round(base * share) for name, share in BASE.items()}
    remaining[(None, MCQ)] += base - sum(remaining.values())
    remaining |= {(plant, plant.source): n for plant, n in plants.items()}
    image_share = BASE[IMAGES] + BASE[VQA_RAD]
    shared.questions_per_image = max(2.5, base * image_share / max_images)
    emitters = {IMAGES: ImageRecords(shared, IMAGES, out / "images", "image_folder"),
                VQA_RAD: ImageRecords(shared, VQA_RAD, out / "vqa_rad", "vqa_rad_json"),
                MCQ: McqRecords(shared, MCQ, out / "mcq.jsonl")}
    try:
        while any(remaining.values()):
            choices = [k for k, n in remaining.items() if n > 0]
            weights = [remaining[k] / (1 if k[0] else emitters[k[1]].per_base()) for k in choices]  # in writes, so
            plant, name = shared.rng.choices(choices, weights=weights)[0]  # the sources stay mixed along the files
            emitter = emitters[name]
            if plant is not None and emitter.plant(plant.kind, plant.reason):
                remaining[(plant, name)] -= 1
                continue
            base_key = (None, name) if remaining[(None, name)] > 0 else next(
                (k for k in remaining if k[0] is None and remaining[k] > 0), None)
            if base_key is None:
                raise RuntimeError(f"{plant.kind} found nothing to copy in {name}: too few records")
            remaining[base_key] -= emitters[base_key[1]].base(remaining[base_key])
    finally:
        for emitter in emitters.values():
            emitter.close()
        key.close()
    overlay = write_overlay(out, cfg, benchmarks, [e.source_config() for e in emitters.values()])
    summary = {
        "records": records, "seed": seed, "benchmarks": benchmarks,
        "images_written": shared.images_written, "phash_collisions_regenerated": shared.collisions,
        "near_duplicates_by_case_only": shared.near.cosmetic,
        "expected": [{"source": s, "expected": e, "reason": r, "records": n}
                     for (s, e, r), n in sorted(key.counts.items())],
        "plants": {f"{p.source}/{p.kind}": asdict(p) | {"records": n} for p, n in plants.items()},
        "params": str(overlay),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def write_overlay(out: Path, cfg: CurateConfig, benchmarks: list[str], sources: list[dict]) -> Path:
    """The params file that curates the corpus into `out/curation/` with the settings the key assumes."""
    import yaml

    curation = out / "curation"
    section = {
        "sources": sources,
        "benchmarks": list(benchmarks),
        "source_priority": [s["name"] for s in sources],
        "output_dir": str(curation / "curated"), "image_store": str(curation / "images"),
        "rejected_dir": str(curation / "rejected"), "metrics_file": str(curation / "metrics" / "curate.json"),
        "plots_dir": str(curation / "plots"),
        "decontaminate": "drop",  # the key says benchmark copies are rejected
        **{name: getattr(cfg, name) for name in (
            "min_image_side", "max_image_pixels", "caption_min_tokens", "caption_max_tokens", "max_text_chars",
            "jpeg_draft", "minhash_num_perm", "near_dup_threshold", "decontam_threshold")},
    }
    path = out / "params.yaml"
    path.write_text(yaml.safe_dump({"curate": section}, sort_keys=False))
    return path


def _outcomes(curated_dir: Path, rejected_dir: Path) -> pa.Table:
    """(id, expected, reason) of every curated and rejected row, from `<group>.parquet` or `<group>/part-*.parquet`."""
    def read(folder: Path, columns: list[str]) -> list[pa.Table]:
        return [pq.read_table(p, columns=columns) for paths in table_files(folder).values() for p in paths]

    kept = [t.select(["id"]) for t in read(curated_dir, ["id"])]
    rejected = read(rejected_dir, ["id", "reason"])
    tables = [pa.table([t["id"], pa.array(["kept"] * len(t)), pa.array([""] * len(t))], schema=OUTCOME_SCHEMA)
              for t in kept]
    tables += [pa.table([t["id"], pa.array(["rejected"] * len(t)), t["reason"]], schema=OUTCOME_SCHEMA)
               for t in rejected]
    return pa.concat_tables(tables) if tables else OUTCOME_SCHEMA.empty_table()


def check_answer_key(curated_dir: str | Path, rejected_dir: str | Path, key: str | Path) -> list[str]:
    """Every id whose outcome in the curated/rejected Parquet outputs differs from the answer key, one line
    each ("id: expected ..., got ..."); [] when curation matched the key exactly (repeated ids counted)."""
    keys = ["id", "expected", "reason"]
    expected = pq.read_table(key, columns=keys).group_by(keys).aggregate([([], "count_all")])
    actual = _outcomes(Path(curated_dir), Path(rejected_dir)).group_by(keys).aggregate([([], "count_all")])
    joined = expected.join(actual, keys=keys, join_type="full outer", left_suffix="_key", right_suffix="_out")
    rows = [r for r in joined.to_pylist() if (r["count_all_key"] or 0) != (r["count_all_out"] or 0)]
    by_id: dict[str, tuple[list[str], list[str]]] = {}
    for row in rows:
        what = "kept" if row["expected"] == "kept" else f"rejected ({row['reason']})"
        for n, side in ((row["count_all_key"] or 0, 0), (row["count_all_out"] or 0, 1)):
            by_id.setdefault(row["id"], ([], []))[side].extend([what] * n)
    return [f"{id_}: expected {' + '.join(sorted(exp)) or 'nothing'}, got {' + '.join(sorted(got)) or 'nothing'}"
            for id_, (exp, got) in sorted(by_id.items())]
