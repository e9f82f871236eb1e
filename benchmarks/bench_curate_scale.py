"""Curation at scale on Ray: records/s with 1 and 2 CPUs, and whether memory stays flat when the corpus grows.

Two seeded scale corpora are written with `lingshu scale-corpus`, of N and 10N records (kept between runs
under --work, regenerated when missing). `python stages/curate.py --params <corpus>/params.yaml` then runs
as DVC would run it (a local Ray started and stopped by the stage, MLflow into a scratch database):
- on 10N records with `ray.num_cpus=1` and with `ray.num_cpus=2`: records/s over the stage's wall time;
- on N records with 2 CPUs: memory at N, against the 10N run with 2 CPUs.

While a run lasts, every process it starts is polled (the driver, Ray's workers `ray::*`, and Ray's own
services: raylet, GCS, ...). Per process the peak resident memory (VmHWM) and the peak private memory
(RssAnon: resident memory minus mapped files and the shared object store, which Ray workers map and
which would otherwise count in each of them) are kept. Issue 17 bounds the peak at 10N to 1.2x the peak
at N, for the driver and for the worst worker: the JSON's `private_within_1_2x` says whether their private
memory stayed within it. Every run is checked against the corpus's answer key.

    .venv/bin/python benchmarks/bench_curate_scale.py                     # N=10000: about 8 minutes on 2 cores
    .venv/bin/python benchmarks/bench_curate_scale.py --records 100000 --cpus 2   # memory at 100k and 1M (~25 min)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
RAY_SERVICES = ("raylet", "gcs_server", "dashboard", "log_monitor", "monitor.py", "runtime_env", "ray_client")


def corpus(work: Path, records: int, seed: int) -> Path:
    """The scale corpus of `records` records, generated once into `work`."""
    folder = work / f"corpus-{records}-seed{seed}"
    if (folder / "summary.json").exists():
        return folder
    if folder.exists():
        raise SystemExit(f"{folder} exists without summary.json (an interrupted generation?): remove it and rerun")
    print(f"generating {records} records into {folder}", flush=True)
    subprocess.run([sys.executable, "-m", "lingshu.cli", "scale-corpus", "--out", str(folder), "--records", str(records),
                    "--seed", str(seed)], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return folder


def kind_of(process: psutil.Process, driver: int) -> str:
    if process.pid == driver:
        return "driver"
    cmdline = " ".join(process.cmdline())
    if cmdline.startswith("ray::_") and cmdline.split()[0].endswith("Actor"):  # Ray Data's own actors
        return "ray service"
    if cmdline.startswith("ray::") or "default_worker.py" in cmdline:  # a worker, titled by its task or not yet
        return "worker"
    return "ray service" if any(name in cmdline for name in RAY_SERVICES) else "other"


def _title(process: psutil.Process) -> str:
    """What a process is doing: a Ray worker's title names its task (`ray::MapBatches(...)`)."""
    try:
        return " ".join(process.cmdline())[:120]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


def memory_mb(pid: int) -> dict[str, float]:
    """Peak resident (VmHWM) and current private (RssAnon) memory of a process, in MB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "RssAnon"):
                fields[name] = int(value.split()[0]) / 1024
    return fields


class Watcher(threading.Thread):
    """Polls a process and its descendants until stopped: the peak memory of each, and what kind it is."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peaks: dict[int, dict] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                top = psutil.Process(self.root)
                processes = [top] + top.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    self.sample(process)
                except (psutil.Error, FileNotFoundError, ProcessLookupError):  # gone (or a zombie) since listed
                    continue
            self.done.wait(self.interval)

    def sample(self, process: psutil.Process) -> None:
        seen = self.peaks.get(process.pid) or {"kind": kind_of(process, self.root), "peak_rss_mb": 0.0,
                                               "peak_private_mb": 0.0}
        now = memory_mb(process.pid)
        if seen["kind"] == "other":  # a worker is first seen as a plain python process, then titled by its task
            seen["kind"] = kind_of(process, self.root)
        seen["peak_rss_mb"] = max(seen["peak_rss_mb"], now.get("VmHWM", 0.0))
        title = _title(process)
        if title.startswith("ray::") and not title.startswith("ray::IDLE"):
            seen.setdefault("tasks", set()).add(title.split()[0][:60])
        if now.get("RssAnon", 0.0) > seen["peak_private_mb"]:
            seen["peak_private_mb"], seen["peak_during"] = now["RssAnon"], title
        self.peaks[process.pid] = seen

    def summary(self) -> dict:
        by_kind: dict[str, dict] = {}
        for peak in self.peaks.values():
            kind = by_kind.setdefault(peak["kind"], {"processes": 0, "peak_rss_mb": 0.0, "peak_private_mb": 0.0})
            kind["processes"] += 1
            kind["peak_rss_mb"] = round(max(kind["peak_rss_mb"], peak["peak_rss_mb"]), 1)
            if peak["peak_private_mb"] >= kind["peak_private_mb"]:
                kind["peak_private_mb"] = round(peak["peak_private_mb"], 1)
                kind["peak_during"] = peak.get("peak_during", "")
        for name, kind in by_kind.items():  # which tasks the biggest processes ran: where memory grows
            peaks = sorted((p for p in self.peaks.values() if p["kind"] == name), key=lambda p: -p["peak_private_mb"])
            kind["largest"] = [{"peak_private_mb": round(p["peak_private_mb"], 1), "peak_during": p.get("peak_during", "").strip()[:80],
                                "tasks_seen": sorted(p.get("tasks", ()))} for p in peaks[:5]]
        return by_kind


def curate(folder: Path, cpus: int, scratch: Path) -> dict:
    """One run of the curate stage on a corpus: wall seconds, records/s, peak memory by process kind, answer key."""
    records = json.loads((folder / "summary.json").read_text())["records"]
    env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}", "RAY_USAGE_STATS_ENABLED": "0",
                        "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    log = scratch / f"curate-{folder.name}-{cpus}cpu.log"
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "stages/curate.py", "--params", str(folder / "params.yaml"),
                                    f"ray.num_cpus={cpus}"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        watcher = Watcher(process.pid)
        watcher.start()
        code = process.wait()
        watcher.done.set()
        watcher.join()
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"curate failed on {folder} with {cpus} CPU(s); its log: {log}\n{log.read_text()[-3000:]}")
    check = subprocess.run([sys.executable, "-m", "lingshu.cli", "scale-corpus", "--check", str(folder)], cwd=REPO,
                           capture_output=True, text=True)
    said = [line for line in log.read_text().splitlines()
            if line.startswith("curate: ") and "blocks screened" in line]
    return {"records": records, "cpus": cpus, "seconds": round(seconds, 1), "records_per_s": round(records / seconds, 1),
            "shuffle": said[-1].removeprefix("curate: ") if said else None, "memory": watcher.summary(),
            "answer_key_matched": check.returncode == 0,
            "answer_key": check.stdout.strip().splitlines()[-1] if check.stdout.strip() else check.stderr[-500:]}


def ratio(large: dict, small: dict, kind: str, field: str) -> float | None:
    if kind not in large["memory"] or kind not in small["memory"]:
        return None
    return round(large["memory"][kind][field] / small["memory"][kind][field], 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="N: the small corpus (the large one is 10N)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-curate-scale",
                        help="where the corpora are kept between runs (default: /tmp/bench-curate-scale)")
    parser.add_argument("--cpus", default="1,2",
                        help="CPU counts the 10N corpus is curated with (default: 1,2); N is curated with the largest")
    parser.add_argument("--out", type=Path, help="result JSON (default: benchmarks/results/curate_scale-<N>.json)")
    args = parser.parse_args()
    cpus = sorted({int(c) for c in args.cpus.split(",")})
    out = args.out or REPO / "benchmarks" / "results" / f"curate_scale-{args.records}.json"
    args.work.mkdir(parents=True, exist_ok=True)
    small, large = corpus(args.work, args.records, args.seed), corpus(args.work, 10 * args.records, args.seed)
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-curate-scale-") as scratch:
        for folder, n_cpus in [(large, n) for n in cpus] + [(small, cpus[-1])]:
            runs.append(curate(folder, n_cpus, Path(scratch)))
            run = runs[-1]
            print(f"{run['records']:>8} records, {n_cpus} CPU(s): {run['seconds']:.0f} s, {run['records_per_s']:.0f} "
                  f"records/s; answer key: {run['answer_key']}; {run['shuffle']}", flush=True)
            for kind, peak in sorted(run["memory"].items()):
                print(f"    {kind:<12} x{peak['processes']:<3} peak RSS {peak['peak_rss_mb']:7.1f} MB, "
                      f"peak private {peak['peak_private_mb']:7.1f} MB ({peak['peak_during'][:60]})", flush=True)
    widest, at_n = runs[-2], runs[-1]
    growth = {f"{kind}/{field}": ratio(widest, at_n, kind, field) for kind in ("driver", "worker")
              for field in ("peak_rss_mb", "peak_private_mb")}
    speedup = round(widest["records_per_s"] / runs[0]["records_per_s"], 3) if len(cpus) > 1 else None
    result = {"runs": runs, f"speedup_{cpus[-1]}_vs_{cpus[0]}_cpu": speedup,
              "memory_growth_10n_vs_n": growth,
              # the bound is on private memory: a worker's RSS counts the object store it maps (see the docstring)
              "private_within_1_2x": all(growth[f"{kind}/peak_private_mb"] is not None
                                         and growth[f"{kind}/peak_private_mb"] <= 1.2 for kind in ("driver", "worker")),
              "answer_key_matched": all(run["answer_key_matched"] for run in runs),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "load_before": [round(x, 2) for x in load_before],
                          "load_after": [round(x, 2) for x in os.getloadavg()]}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if speedup is not None:
        print(f"\n{cpus[-1]} CPUs vs {cpus[0]} on {large.name}: x{speedup}")
    print("peak memory at 10N / at N: " + ", ".join(f"{k} x{v}" for k, v in growth.items()))
    print(f"peak private memory of the driver and of the worst worker within x1.2: {result['private_within_1_2x']}")
    print(f"answer keys matched: {result['answer_key_matched']}; written to {out}")
    return 0 if result["answer_key_matched"] else 1


if __name__ == "__main__":
    sys.exit(main())
