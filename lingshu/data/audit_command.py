"""`lingshu audit`: which benchmark test items a model's training data contains, by image or by question.

    lingshu audit --train data/curated --out /tmp/audit.json                      # the curated data: clean
    lingshu audit --train data/sources/vqa_rad/vqa_rad.json --format vqa_rad_json --benchmarks vqa_rad \\
        --out /tmp/vqa_rad_train.json                                            # VQA-RAD's own train split
    lingshu audit --train my_sft.parquet --images my_images --benchmarks multimodal_qa --out audit.json
    lingshu eval --model M --out eval/m --exclude audit.json                     # clean subset beside the full score

--train is a curated folder (data/curated, data/synthetic) or table, any table `lingshu eval` reads (parquet,
arrow, JSON, JSON lines, CSV, a Hugging Face dataset folder: hub shards or save_to_disk), a folder of images
(with or without metadata.jsonl), or, with --format, a source in any format curation reads. Only records
that are trained on are read (split "train" where the data says). Benchmarks are the evaluation's YAMLs,
read as `lingshu eval` reads them (--benchmark-dir, --data NAME=PATH and --root as there). Matching is
curation's decontamination (the `curate` params' threshold, MinHash permutations and JPEG decoding): an item
is overlapped when a training image has its pHash (`image`), or a training question equals its question
after normalisation (`text_exact`) or is at least the threshold similar by MinHash (`text_near`).

The JSON file (--out) lists, per benchmark, the overlapped items' ids (all, and by kind), counts, and up to
three training records per item; a table of the counts is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("audit", help="list the benchmark test items any training data contains",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True,
                        help="training data: a curated folder or table, a table or Hugging Face dataset folder, a "
                             "folder of images, or a source in a curation format (with --format)")
    parser.add_argument("--benchmarks", default=None,
                        help="comma-separated benchmark or group names (default: params curate.benchmarks)")
    parser.add_argument("--out", type=Path, required=True, help="the audit file to write (JSON)")
    parser.add_argument("--format", dest="source_format", default="",
                        help="read --train with this curation source loader (vqa_rad_json, pubmedqa_json, dicom_dir, "
                             "mcq_jsonl, ...): its split 'train' records are audited")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the --format loader (repeatable), e.g. image_dir=images")
    parser.add_argument("--images", type=Path, action="append", default=[], metavar="DIR",
                        help="folder image paths or store keys in --train resolve against (repeatable; default: "
                             "params curate.image_store, then the data's own folder and its images/)")
    parser.add_argument("--split", default="train", help="split of a Hugging Face dataset folder (default: train)")
    parser.add_argument("--text-field", default="", help="a table's text field (default: question, caption, text or report)")
    parser.add_argument("--image-field", default="",
                        help="a table's image field (default: image, images, image_path, image_name, file_name or img_name)")
    parser.add_argument("--benchmark-dir", type=Path, action="append", default=[], help="extra folder of benchmark YAMLs")
    parser.add_argument("--root", type=Path, default=Path("."), help="folder benchmark paths are relative to")
    parser.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                        help="read benchmark NAME from PATH (relative to --root) instead of its YAML's `path:`")
    parser.add_argument("--params", default="params.yaml",
                        help="params file whose curate section sets the matching (default: params.yaml)")
    parser.set_defaults(func=run)


def options(pairs: list[str]) -> dict:
    """--option KEY=VALUE pairs, each value read as YAML (so `captions=true` is a boolean)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"lingshu audit: --option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from lingshu.config import load_section
    from lingshu.data.audit import audit, report
    from lingshu.data.decontam import select_benchmarks
    from lingshu.data.training_records import TrainingData, recognise
    from lingshu.eval.command import with_data_paths
    from lingshu.io import atomic_write_json

    curate = load_section("curate", args.params)
    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()] if args.benchmarks else curate.benchmarks
    try:
        benches = with_data_paths(select_benchmarks(names, args.benchmark_dir, key="--benchmarks"), args.data,
                                  prog="lingshu audit")
        kind = "source" if args.source_format else recognise(args.train)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"lingshu audit: {exc}") from None
    base = args.train if args.train.is_dir() else args.train.parent
    images = args.images or [Path(curate.image_store), base / "images"]
    data = TrainingData(args.train, kind, images, args.split, args.text_field, args.image_field, args.source_format,
                        options(args.option))
    result = audit(data, benches, curate, args.root)
    out = report(result, data, benches, curate, args.root)
    atomic_write_json(args.out, out)
    Console().print(audit_table(f"{args.train} ({kind}): {result.records} training records, {result.images} images",
                                out))
    if result.unreadable_images:
        print(f"{result.unreadable_images} training images could not be read (missing or not images): not matched")
    for why, n in sorted(data.skipped.items()):
        print(f"not read: {n} records: {why}")
    print(f"audit written to {args.out}")
    return 0


def audit_table(title: str, out: dict):
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "items", "overlapped", "%", "image", "text exact", "text near", "no images"):
        table.add_column(column, justify="left" if column == "benchmark" else "right", no_wrap=column == "benchmark")
    for name, entry in out["benchmarks"].items():
        share = 100 * entry["overlapped"] / entry["items"] if entry["items"] else 0.0
        kinds = entry["by_kind"]
        table.add_row(name, str(entry["items"]), str(entry["overlapped"]), f"{share:.1f}",
                      *(str(kinds[k]["items"]) for k in ("image", "text_exact", "text_near")),
                      str(entry["items_without_images"]))
    return table
