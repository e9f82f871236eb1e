"""MLflow tracking: works against a real tracking server, and never logs secrets."""

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lingshu.config import TrackingConfig
from lingshu.tracking import safe_params, stage_run


@dataclass
class _Cfg:
    lr: float = 0.1
    api_key: str = "sk-do-not-log"


def test_secrets_never_reach_params():
    assert safe_params({"lr": 1, "judge.api_key": "x", "hub_token": "y", "db.password": "z"}) == {"lr": 1}


@pytest.fixture
def tracking_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen([str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                             "--default-artifact-root", str(tmp_path / "server-artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_stage_run_logs_to_a_tracking_server(tracking_server, monkeypatch, tmp_path):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    monkeypatch.setenv("LINGSHU_PIPELINE_ID", "pipe-1")
    with stage_run("curate", _Cfg(), TrackingConfig(experiment="server-test")):
        mlflow.log_metric("kept", 3)
    runs = mlflow.search_runs(experiment_names=["server-test"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["tags.lingshu.pipeline_id"] == "pipe-1" and run["tags.dvc.stage"] == "curate"
    assert run["params.lr"] == "0.1" and "params.api_key" not in runs.columns
    assert run["metrics.kept"] == 3


def test_a_queued_experiments_copy_writes_its_own_outputs_but_logs_to_the_users_store(tmp_path, monkeypatch):
    """DVC runs a queued experiment in a temporary copy with DVC_ROOT naming the user's repo."""
    from lingshu.config import TrackingConfig
    from lingshu.tracking import repo_root, tracking_uri

    user_repo, copy = tmp_path / "repo", tmp_path / "repo/.dvc/tmp/exps/tmp123"
    copy.mkdir(parents=True)
    (user_repo / "dvc.yaml").write_text("stages: {}\n")
    (copy / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(copy)
    monkeypatch.setenv("DVC_ROOT", str(user_repo))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert repo_root() == copy
    assert tracking_uri(TrackingConfig(), repo_root()) == f"sqlite:///{user_repo / 'mlflow.db'}"
