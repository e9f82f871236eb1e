"""MLflow tracking: works against a real tracking server, and never logs secrets."""

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lingshu.config import TrackingConfig
from lingshu.tracking import input_digest, repo_root, safe_params, stage_run


@dataclass
class _Cfg:
    lr: float = 0.1
    api_key: str = "sk-do-not-log"


def test_secrets_never_reach_params():
    assert safe_params({"lr": 1, "judge.api_key": "x", "hub_token": "y", "db.password": "z"}) == {"lr": 1}


def test_credentials_are_dropped_by_key_and_masked_by_value():
    params = {
        "synthesize.llm.api_key_env": "OPENAI_API_KEY",
        "curate.sources.3.options.hf_token": "hf_abc",
        "curate.sources.4.options.auth_header": "Bearer sk-live-123",
        "curate.sources.5.options.headers.X-Custom": "Bearer sk-live-456",
        "synthesize.llm.base_url": "https://alice:s3cret@llm.example.org:8443/v1",
        "eval.max_new_tokens": 64,
        "curate.caption_min_tokens": 10,
        "eval.base_url": "http://127.0.0.1:8000/v1",
    }
    safe = safe_params(params)
    assert "synthesize.llm.api_key_env" not in safe and "curate.sources.3.options.hf_token" not in safe
    assert "curate.sources.4.options.auth_header" not in safe
    assert safe["curate.sources.5.options.headers.X-Custom"] == "***"
    assert safe["synthesize.llm.base_url"] == "https://alice:***@llm.example.org:8443/v1"
    assert safe["eval.max_new_tokens"] == 64 and safe["curate.caption_min_tokens"] == 10  # not credentials
    assert safe["eval.base_url"] == "http://127.0.0.1:8000/v1"
    assert not any("s3cret" in str(v) or "sk-live" in str(v) for v in safe.values())


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
    with stage_run("curate", _Cfg(), TrackingConfig(experiment="server-test"), ["params.yaml", "no/such/path"], "source") as run:
        mlflow.log_metric("kept", 3)
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs  # the run's Dataset column
    assert [(i.dataset.name, i.tags[0].value) for i in inputs] == [("params.yaml", "source")]
    assert inputs[0].dataset.digest == input_digest(repo_root(), "params.yaml")
    runs = mlflow.search_runs(experiment_names=["server-test"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["tags.lingshu.pipeline_id"] == "pipe-1" and run["tags.dvc.stage"] == "curate"
    assert run["params.lr"] == "0.1" and "params.api_key" not in runs.columns
    assert run["metrics.kept"] == 3
    experiment = mlflow.get_experiment_by_name("server-test")  # the UI shows runs, not GenAI traces
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


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


def test_an_inputs_digest_follows_its_content_or_the_md5_dvc_recorded(tmp_path):
    (tmp_path / "data/curated").mkdir(parents=True)
    (tmp_path / "data/curated/a.parquet").write_bytes(b"one")
    first = input_digest(tmp_path, "data/curated")
    (tmp_path / "data/curated/a.parquet").write_bytes(b"two")
    assert input_digest(tmp_path, "data/curated") != first
    (tmp_path / "dvc.lock").write_text("stages:\n  curate:\n    outs:\n    - path: data/curated\n"
                                       "      md5: 0123456789abcdef0123456789abcdef.dir\n")
    assert input_digest(tmp_path, "data/curated") == "0123456789abcdef"


def test_an_inputs_digest_reads_large_files_in_chunks_with_the_whole_files_digest(tmp_path, monkeypatch):
    import hashlib

    import lingshu.tracking

    data = bytes(range(256)) * 40_000  # 10 MB: three chunks of 4 MiB
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources/big.jsonl").write_bytes(data)
    whole = hashlib.sha256(b"big.jsonl" + data).hexdigest()[:16]
    monkeypatch.setattr(lingshu.tracking.Path, "read_bytes", lambda self: pytest.fail(f"{self} read whole"))
    reads = []
    real_open = lingshu.tracking.Path.open

    def counting_open(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        real_read = handle.read
        handle.read = lambda size=-1: reads.append(size) or real_read(size)
        return handle

    monkeypatch.setattr(lingshu.tracking.Path, "open", counting_open)
    assert input_digest(tmp_path, "sources") == whole
    assert reads and max(reads) <= 4 * 1024**2 and -1 not in reads


def test_stage_metrics_are_logged_under_their_nested_names_numbers_only():
    from lingshu.tracking import numeric_leaves

    metrics = {"kept": 3, "ok": True, "status": "done", "rejected_by_reason": {"too_small": 2, "bomb": 0},
               "generators": {"ocr": {"yield": 0.5, "skipped": [1, 2]}}}
    assert numeric_leaves(metrics) == {"kept": 3.0, "rejected_by_reason.too_small": 2.0, "rejected_by_reason.bomb": 0.0,
                                       "generators.ocr.yield": 0.5}
