"""Curation on Ray: a planted corpus against its answer key; a real two-node cluster on 127.0.0.1 against a
local run of the stage, on the reduced embedded default and on a generated scale corpus (both runs also
against its answer key); a Ray worker killed with SIGKILL mid-run (Ray retries its task; no record is lost
or duplicated). One cluster for the module; the stage runs as a subprocess, as DVC runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from lingshu.config import SourceConfig, load_section
from lingshu.data.schema import read_table, table_files

REPO = Path(__file__).resolve().parents[1]
# a reduced embedded default: images (VQA-RAD, DICOM, charts), de-identification, captions, near-duplicate
# instructions, the modality classifier and decontamination, in a fraction of the full run's time
KEEP = {"vqa_rad", "dicom", "general_charts", "general_instructions"}


def _outputs(out: Path) -> dict[str, str]:
    return {"output_dir": str(out / "curated"), "image_store": str(out / "images"),
            "rejected_dir": str(out / "rejected"), "metrics_file": str(out / "curate.json"),
            "plots_dir": str(out / "plots")}


def _reduced_cfg(out: Path):
    cfg = load_section("curate", REPO / "params.yaml")
    return replace(cfg, sources=[s for s in cfg.sources if s.name in KEEP], benchmarks=["vqa_rad"],
                   **_outputs(out))


def _run_stage(params: dict, out: Path, env_extra: dict[str, str]) -> dict:
    """Run `python stages/curate.py` with `params`, its outputs moved under `out`; returns its metrics."""
    out.mkdir(parents=True, exist_ok=True)
    params["curate"] |= _outputs(out)
    (out / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {
        "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": f"sqlite:///{out / 'mlflow.db'}"} | env_extra
    done = subprocess.run([sys.executable, "stages/curate.py", "--params", str(out / "params.yaml")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "curate.json").read_text())


def _stage(out: Path, env_extra: dict[str, str]) -> dict:
    """The stage on the reduced default, outputs under `out`; returns its metrics."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    curate = params["curate"]
    curate |= {"sources": [s for s in curate["sources"] if s["name"] in KEEP], "benchmarks": ["vqa_rad"]}
    metrics = _run_stage(params, out, env_extra)
    assert set(metrics["per_source"]) == KEEP
    return metrics


def _tables(out: Path) -> dict[str, list[dict]]:
    """Every row of every curated group and of the rejected table, in reading order."""
    tables = {name: read_table(paths).to_pylist() for name, paths in table_files(out / "curated").items()}
    tables["rejected"] = read_table(sorted((out / "rejected").glob("*.parquet"))).to_pylist()
    return tables


class TwoNodes:
    """`ray start --head` and `ray start --address` on 127.0.0.1, one CPU each; stopped by their own pids."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, _free_port()
        self.address = f"127.0.0.1:{self.port}"
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--temp-dir", str(folder),
                  "--disable-usage-stats"]
        ray_cli = str(Path(sys.executable).with_name("ray"))
        for args in (["--head", "--port", str(self.port), "--include-dashboard", "false"], ["--address", self.address]):
            subprocess.run([ray_cli, "start", *args, *common], check=True, capture_output=True, timeout=120,
                           env=os.environ | {"RAY_AUTH_MODE": "disabled"})

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # what survives a polite stop is killed
            # -ww: full command lines (piped, ps cuts them to 80 columns, before the folder, and the head's
            # gcs_server, raylet and monitors outlived the tests)
            listing = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout
            for line in listing.splitlines():
                pid, _, args = line.strip().partition(" ")
                if str(self.folder) in args:
                    try:
                        os.kill(int(pid), sig)
                    except ProcessLookupError:
                        pass
            time.sleep(3)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real two-node cluster on this machine (ray.cluster_utils.Cluster advertises the machine's address,
    which a sandbox may not let a driver reach; `ray start` takes 127.0.0.1)."""
    import ray

    if ray.is_initialized():  # the session's local Ray (conftest) cannot stay beside a cluster's driver
        ray.shutdown()
    nodes = TwoNodes(Path(f"/tmp/ray-two-nodes-{os.getpid()}"))
    yield nodes
    nodes.stop()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The stage on the reduced default with RAY_ADDRESS unset: it starts (and stops) a local Ray itself."""
    out = tmp_path_factory.mktemp("local")
    return out, _stage(out, {})


@pytest.mark.slow
def test_a_two_node_cluster_curates_exactly_what_a_local_run_does(cluster, local_run, tmp_path):
    local_out, local_metrics = local_run
    metrics = _stage(tmp_path, {"RAY_ADDRESS": cluster.address, "RAY_AUTH_MODE": "disabled"})
    assert metrics == local_metrics
    assert _tables(tmp_path) == _tables(local_out)
    assert metrics["conservation_ok"] and metrics["rejected_by_reason"]["duplicate_image"] > 0
    assert sorted(p.name for p in (tmp_path / "curated").iterdir()) == sorted(metrics["kept_by_group"])


@pytest.mark.slow
def test_a_two_node_cluster_curates_a_scale_corpus_as_its_answer_key_and_a_local_run_say(cluster, tmp_path):
    from lingshu.data.scale_corpus import check_answer_key, generate

    corpus = tmp_path / "corpus"
    generate(corpus, 400, 1, load_section("curate", REPO / "params.yaml"), ["vqa_rad", "medqa"], REPO)
    runs = {}
    for name, env in (("local", {}), ("cluster", {"RAY_ADDRESS": cluster.address, "RAY_AUTH_MODE": "disabled"})):
        metrics = _run_stage(yaml.safe_load((corpus / "params.yaml").read_text()), tmp_path / name, env)
        assert check_answer_key(tmp_path / name / "curated", tmp_path / name / "rejected",
                                corpus / "answer_key.parquet") == [], name
        runs[name] = metrics, _tables(tmp_path / name)
    assert runs["cluster"] == runs["local"]
    assert runs["local"][0]["inputs"] == 400 and runs["local"][0]["conservation_ok"]


def _kill_once(marker: str, after: int):
    """A worker set-up hook: the `after`-th record this process screens kills the process (SIGKILL), once per run."""
    def install():
        from lingshu.data.screen import Screener

        screen, seen = Screener.record, [0]

        def record(self, sample):
            seen[0] += 1
            if seen[0] == after:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    os.kill(os.getpid(), signal.SIGKILL)
            return screen(self, sample)

        Screener.record = record

    return install


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_no_record(cluster, local_run, tmp_path):
    import cloudpickle
    import ray

    from lingshu.data.curate_report import curate_and_report

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(address=cluster.address, runtime_env={"worker_process_setup_hook": _kill_once(str(marker), 50)},
             log_to_driver=False)
    try:
        metrics, _ = curate_and_report(_reduced_cfg(tmp_path), REPO)
    finally:
        ray.shutdown()
    assert marker.exists()  # a worker did die
    local_out, local_metrics = local_run
    assert metrics["conservation_ok"] and metrics["per_source"] == local_metrics["per_source"]
    tables = _tables(tmp_path)
    ids = [r["id"] for rows in tables.values() for r in rows]
    assert len(ids) == len(set(ids)) == local_metrics["inputs"]
    assert tables == _tables(local_out)


def _mcq(path: Path, records: list) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))


def test_a_planted_corpus_is_curated_as_its_answer_key_says(curate_cfg, tmp_path, repo):
    """Two MCQ sources with planted duplicates, an edited near-duplicate, a benchmark question and bad records;
    the expected outcome is written down from how the corpus was built."""
    from lingshu.data.curate import Curator
    from lingshu.data.decontam import select_benchmarks

    leaked = next(iter(select_benchmarks(["medqa"])[0].listed(repo))).question
    long = " ".join(f"term{i}" for i in range(60))
    shared = "A 45-year-old man presents with crushing chest pain radiating to the left arm. What is the next step?"

    def q(i, text):
        return {"id": str(i), "question": text, "options": {"A": "yes", "B": "no"}, "answer_idx": "A"}

    _mcq(tmp_path / "exam.jsonl", [q(0, "Which vitamin deficiency causes scurvy in sailors?"), q(1, shared),
                                   q(1, "A second record with the first one's id."), q(2, long)])
    _mcq(tmp_path / "scraped.jsonl", [q(0, shared), q(1, long.replace("term59", "term61")),
                                      q(2, "Which nerve innervates the deltoid muscle of the shoulder?"),
                                      q(3, "What is the most common cause of community acquired pneumonia?"),
                                      q(4, leaked), "{not json"])
    sources = [SourceConfig(name=n, format="mcq_jsonl", path=str(tmp_path / f"{n}.jsonl"), group="medical_text",
                            licence="test") for n in ("scraped", "exam")]
    cfg = replace(curate_cfg, sources=sources, benchmarks=["medqa"], source_priority=["exam", "scraped"])
    result = Curator(cfg, repo).run()
    kept = sorted(s.id for group in result.kept.values() for s in group)
    rejected = {r.id: r.reason for r in result.rejected}
    assert kept == ["exam:0", "exam:1", "exam:2", "scraped:2", "scraped:3"]
    assert rejected == {"exam:1": "duplicate_id", "scraped:0": "near_duplicate_text", "scraped:1": "near_duplicate_text",
                        "scraped:4": "benchmark_overlap", "scraped:line6": "invalid_json"}
    assert result.inputs == {"exam": 4, "scraped": 6}
    assert sorted(p.relative_to(result.output_dir).as_posix() for p in result.output_dir.rglob("*.parquet")) == [
        "medical_text/part-000-00000.parquet", "medical_text/part-001-00000.parquet"]
