"""The pipeline logs to a shared MLflow tracking server: PostgreSQL holds the runs, a folder holds the artifacts.

A throw-away PostgreSQL cluster (Debian's `postgresql`) backs a real `mlflow server` that proxies artifacts
into a file root, the way a cluster runs it with an S3 bucket instead of the folder. A fresh copy of the
repo runs the first two stages with nothing but MLFLOW_TRACKING_URI pointing at the server; the runs are
then read back through the MLflow client, their artifacts found under the file root, and the runs found
in PostgreSQL's own tables.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.services import free_port, http_ok, postgres_server, wait_until

pytestmark = pytest.mark.slow


def server_command(backend: str, artifacts: Path, port: int) -> list[str]:
    """The command line a cluster uses too: runs in `backend`, artifacts uploaded through the server into `artifacts`."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
            "--artifacts-destination", artifacts.as_uri(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def sqlalchemy_url(database: str) -> str:
    """`postgresql://` through psycopg2, the driver the project installs: SQLAlchemy 2.1 reads a bare
    `postgresql://` as psycopg (version 3), which it does not."""
    return database.replace("postgresql://", "postgresql+psycopg2://", 1)


def job_queue_folder(group: int) -> Path | None:
    """The folder (under /dev/shm) where the server's job runner keeps its queues, which MLflow leaves behind:
    read from the environment of a process in the server's process group."""
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if os.getpgid(int(environ.parent.name)) == group:
                for entry in environ.read_bytes().split(b"\0"):
                    if entry.startswith(b"_MLFLOW_HUEY_STORAGE_PATH="):
                        return Path(entry.split(b"=", 1)[1].decode())
        except OSError:  # gone, or not ours to read
            continue
    return None


@contextmanager
def mlflow_server(backend: str, artifacts: Path, log: Path) -> Iterator[str]:
    """`mlflow server` on a free 127.0.0.1 port, its output in `log`; yields its URL and stops it (and the
    workers and job runner it starts, one process group) afterwards, removing the job runner's queues."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with log.open("w") as out:
        server = subprocess.Popen(server_command(backend, artifacts, port), stdout=out, stderr=subprocess.STDOUT,
                                  env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(lambda: http_ok(f"{url}/health"), "mlflow server", server)
        except (RuntimeError, TimeoutError) as e:
            raise RuntimeError(f"{e}\n{log.read_text()[-3000:]}") from e
        yield url
    finally:
        queues = job_queue_folder(server.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        if queues is not None:
            shutil.rmtree(queues, ignore_errors=True)


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def test_stages_log_to_a_postgres_backed_server_with_proxied_artifacts(fresh_clone, tmp_path):
    import psycopg2
    from omegaconf import OmegaConf

    import mlflow

    artifacts = tmp_path / "artifact-root"
    with postgres_server() as database, mlflow_server(sqlalchemy_url(database), artifacts, tmp_path / "server.log") as url:
        clone = fresh_clone._replace(env={**fresh_clone.env, "MLFLOW_TRACKING_URI": url})
        assert _ran(clone.run([sys.executable, "-m", "dvc", "repro", "validate"])) == ["curate", "validate"]
        assert not (clone.root / "mlflow.db").exists() and not (clone.root / "mlartifacts").exists()

        client = mlflow.MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name("lingshu")
        assert experiment.artifact_location.startswith("mlflow-artifacts:")  # uploads go through the server
        runs = {r.data.tags["dvc.stage"]: r for r in client.search_runs([experiment.experiment_id])}
        assert sorted(runs) == ["curate", "validate"]
        assert {r.info.status for r in runs.values()} == {"FINISHED"}
        assert len({r.data.tags["lingshu.pipeline_id"] for r in runs.values()}) == 1
        head = clone.run(["git", "rev-parse", "HEAD"]).strip()
        assert {r.data.tags["mlflow.source.git.commit"] for r in runs.values()} == {head}

        curate = runs["curate"]
        params = OmegaConf.load(clone.root / "params.yaml").curate
        assert curate.data.params["near_dup_threshold"] == str(params.near_dup_threshold)
        assert curate.data.params["min_image_side"] == str(params.min_image_side)
        written = (clone.root / "metrics/curate.json").read_bytes()
        metrics = json.loads(written)
        logged = curate.data.metrics
        assert logged["inputs"] == metrics["inputs"] == logged["kept"] + logged["rejected"] and logged["kept"] > 0
        assert runs["validate"].data.metrics["suites_failed"] == 0 and runs["validate"].data.metrics["suites"] > 0

        assert {Path(a.path).name for a in client.list_artifacts(curate.info.run_id, "plots")} == {
            "distribution.png", "distribution.csv"}
        downloaded = Path(client.download_artifacts(curate.info.run_id, "curate.json", str(tmp_path / "download")))
        assert downloaded.read_bytes() == written
        stored = list(artifacts.rglob("curate.json"))
        assert len(stored) == 1 and curate.info.run_id in stored[0].parts and stored[0].read_bytes() == written
        reports = {p.name for p in (clone.root / "reports/validation").iterdir()}
        assert {Path(a.path).name for a in client.list_artifacts(runs["validate"].info.run_id, "validation")} == reports

        with psycopg2.connect(database) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT r.run_uuid, r.status, t.value FROM runs r JOIN tags t "
                           "ON t.run_uuid = r.run_uuid AND t.key = 'dvc.stage'")
            assert set(cursor.fetchall()) == {(r.info.run_id, "FINISHED", stage) for stage, r in runs.items()}
            cursor.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'near_dup_threshold'",
                           (curate.info.run_id,))
            assert cursor.fetchall() == [(str(params.near_dup_threshold),)]
        connection.close()
