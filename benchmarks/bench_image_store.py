"""No-op `dvc status` and `dvc repro` with the image store as one file per image against the same images
packed in shards.

Why: the curate stage writes its images as a content-addressed folder, `data/images/<sha256>.<ext>`, one
file per image, and that folder is an output of `curate` and a dependency of every stage after it. At
corpus scale (issue 17: millions of images) DVC has to look at every file of it on every `dvc status` and
`dvc repro`, even when nothing changed. This measures that cost against the same images packed into
shards (Parquet files of `--shard-size` images: a `key` and a `bytes` column), in one run, side by side.

For each layout it makes a fresh git + DVC repository under --workdir with a three-stage pipeline like
ours: `store` writes the images (outs: data/images), `synth` and `train` depend on it (deps: data/images).
The first `dvc repro` (generating, hashing and caching the store, with DVC's default cache type) is
timed once; then, `--repeat` times with the layouts alternating, a no-op `dvc status` and a no-op
`dvc repro` (nothing changed; the script checks that DVC ran no stage and found everything up to date).
Each command is a fresh `dvc` process, as a user types it. The images are 64x64 grayscale noise PNGs
(about 4 KB each, seeded, the same bytes in both layouts). DVC sees only how many files there are and
how big they are, so the shard format (Parquet here, tar for WebDataset) does not change these numbers.

    .venv/bin/python benchmarks/bench_image_store.py                  # 200k images: 12-17 minutes on 2 cores
    .venv/bin/python benchmarks/bench_image_store.py --files 20000    # quick
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median, section, spread

LAYOUTS = ("files", "shards")
DVC_YAML = """stages:
  store:
    cmd: {python} {script} --build {layout} --files {files} --shard-size {shard_size} --out data/images
    outs: [data/images]
  synth:
    cmd: {python} -c "import os; print(len(os.listdir('data/images')))" > synth.txt
    deps: [data/images]
    outs: [synth.txt]
  train:
    cmd: {python} -c "import os; print(len(os.listdir('data/images')))" > train.txt
    deps: [data/images, synth.txt]
    outs: [train.txt]
"""


def images(files: int):
    """(sha256 key, PNG bytes) of `files` seeded 64x64 noise images."""
    import numpy as np
    from PIL import Image

    for index in range(files):
        pixels = np.random.default_rng(index).integers(0, 256, (64, 64), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(buffer, format="PNG")
        data = buffer.getvalue()
        yield f"{hashlib.sha256(data).hexdigest()}.png", data


def build(layout: str, files: int, shard_size: int, out: Path) -> None:
    """Hidden mode, the `store` stage's command: write the store in `layout`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    batch: list[tuple[str, bytes]] = []

    def write_shard() -> None:
        shard = out / f"shard-{len(list(out.iterdir())):05d}.parquet"
        pq.write_table(pa.table({"key": [k for k, _ in batch], "bytes": [d for _, d in batch]}), shard)
        batch.clear()

    for key, data in images(files):
        if layout == "files":
            (out / key).write_bytes(data)
            continue
        batch.append((key, data))
        if len(batch) == shard_size:
            write_shard()
    if batch:
        write_shard()


def dvc(repo: Path, *args: str) -> tuple[float, str]:
    """Seconds and output of one `dvc` command in `repo` (a fresh process); fails loudly on an error."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(repo.parent / f"{repo.name}-site-cache")}
    command = [str(Path(sys.executable).parent / "dvc"), *args]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} in {repo} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def make_repo(root: Path, layout: str, files: int, shard_size: int) -> float:
    """A git + DVC repository with the three stages; returns the seconds of its first `dvc repro`."""
    repo = root / layout
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    (repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable, script=Path(__file__).resolve(),
                                                   layout=layout, files=files, shard_size=shard_size))
    seconds, _ = dvc(repo, "repro")
    return seconds


def noop(repo: Path, command: str) -> float:
    seconds, output = dvc(repo, command)
    if command == "repro" and ("Running stage" in output or "up to date" not in output):
        raise AssertionError(f"dvc repro in {repo} was not a no-op:\n{output[-2000:]}")
    if command == "status" and "up to date" not in output:
        raise AssertionError(f"dvc status in {repo} found changes:\n{output[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200_000, help="images in the store (default: 200000)")
    parser.add_argument("--shard-size", type=int, default=1000, help="images per shard (default: 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of no-op commands per layout (default: 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the repositories go (default: a new /tmp folder, removed after)")
    parser.add_argument("--build", choices=LAYOUTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        return build(args.build, args.files, args.shard_size, args.out)

    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench-image-store-", dir="/tmp"))
    shards = -(-args.files // args.shard_size)
    print(f"{args.files} images: {args.files} files against {shards} shards of {args.shard_size}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; repositories in {root}")
    try:
        section("first dvc repro (generate, hash and cache the store; run once)")
        first = {}
        for layout in LAYOUTS:
            first[layout] = make_repo(root, layout, args.files, args.shard_size)
            print(f"{layout:>7}: {first[layout]:.1f} s", flush=True)
        times: dict[tuple[str, str], list[float]] = {(c, l): [] for c in ("status", "repro") for l in LAYOUTS}
        section(f"no-op dvc status / dvc repro, {args.repeat} rounds, layouts alternating")
        for round_ in range(args.repeat):
            for layout in LAYOUTS if round_ % 2 == 0 else LAYOUTS[::-1]:
                for command in ("status", "repro"):
                    times[(command, layout)].append(noop(root / layout, command))
            print(f"round {round_ + 1}: " + ", ".join(f"{c} {l} {times[(c, l)][-1]:.1f} s" for (c, l) in times), flush=True)
        section("results (median seconds, range)")
        print(f"| command | {args.files} files | {shards} shards | files / shards |")
        print("|---|---|---|---|")
        for command in ("status", "repro"):
            loose, packed = times[(command, "files")], times[(command, "shards")]
            ratios = [a / b for a, b in zip(loose, packed)]
            print(f"| no-op `dvc {command}` | {median(loose):.2f} s ({spread(loose)}) | {median(packed):.2f} s "
                  f"({spread(packed)}) | ×{median(ratios):.1f} |")
        print(f"| first `dvc repro` | {first['files']:.0f} s | {first['shards']:.0f} s | ×{first['files'] / first['shards']:.1f} |")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
