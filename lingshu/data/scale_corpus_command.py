"""`lingshu scale-corpus`: write a seeded scale corpus with its answer key (see lingshu/data/scale_corpus.py).

    lingshu scale-corpus --out /tmp/corpus --records 100000 --seed 0
    python stages/curate.py --params /tmp/corpus/params.yaml     # curate it (outputs under /tmp/corpus/curation)
    lingshu scale-corpus --check /tmp/corpus                      # compare the curation with the answer key

The folder gets an image folder source (images/metadata.jsonl), a VQA-RAD-style JSON with its images
(vqa_rad/), multiple-choice JSON Lines (mcq.jsonl), planted problems (re-encoded duplicate images,
edited near-duplicate questions, copies of benchmark test items, broken images, bad JSON, invalid UTF-8,
missing fields, repeated ids), answer_key.parquet (every record id: kept, or rejected and curation's
reason), params.yaml (a params file whose curate section points at all of it and at output folders inside
it) and summary.json. Thresholds, image limits and MinHash settings come from --params, so the key matches
a curation run with them. About 4 images per 10 records, in folders of 1000; --max-images caps the
distinct originals (more questions per image beyond it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("scale-corpus", help="write a seeded scale corpus for curation, with its answer key",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="folder to write (new or empty)")
    parser.add_argument("--records", type=int, default=10_000, help="number of records (default: 10000; at least 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed: the same seed and folder give identical files")
    parser.add_argument("--benchmarks", default="vqa_rad,medqa",
                        help="comma-separated benchmarks whose test items are copied in and decontaminated against "
                             "(default: vqa_rad,medqa: one with images, one with text)")
    parser.add_argument("--max-images", type=int, default=200_000, help="cap on distinct original images (default: 200000)")
    parser.add_argument("--params", default="params.yaml",
                        help="params file whose curate section gives the thresholds and image limits (default: params.yaml)")
    parser.add_argument("--root", type=Path, default=Path("."), help="folder benchmark paths are relative to (default: .)")
    parser.add_argument("--check", type=Path, metavar="CORPUS",
                        help="instead of generating: compare CORPUS's curation outputs (its params.yaml's output_dir "
                             "and rejected_dir) with its answer key; exit 1 on any difference")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lingshu.config import load_section
    from lingshu.data.scale_corpus import check_answer_key, generate

    if args.check:
        cfg = load_section("curate", args.check / "params.yaml")
        mismatches = check_answer_key(cfg.output_dir, cfg.rejected_dir, args.check / "answer_key.parquet")
        for line in mismatches[:50]:
            print(line)
        print(f"{len(mismatches)} record(s) differ from the answer key" if mismatches else "answer key matched")
        return 1 if mismatches else 0
    if args.out is None:
        raise SystemExit("lingshu scale-corpus: --out (or --check) is required")
    cfg = load_section("curate", args.params)
    start = time.perf_counter()
    summary = generate(args.out, args.records, args.seed, cfg, [b for b in args.benchmarks.split(",") if b],
                       args.root, args.max_images)
    seconds = time.perf_counter() - start
    for row in summary["expected"]:
        print(f"{row['source']:>14} {row['expected']:>8} {row['reason'] or '':<22} {row['records']:>9}")
    print(f"{args.records} records, {summary['images_written']} image files in {seconds:.1f} s "
          f"({args.records / seconds:.0f} records/s); curate it with: python stages/curate.py --params {summary['params']}")
    return 0
