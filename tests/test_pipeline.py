"""End to end: `dvc repro` in a fresh copy of the repo, caching, param-driven re-runs, MLflow runs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


@pytest.fixture
def fresh_clone(repo, tmp_path):
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (repo / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, clone / name)
    (clone / "dvc.lock").unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{clone / 'mlflow.db'}", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("DVC_ROOT", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        _run(cmd, clone, env)
    return clone, env


def test_repro_is_cached_and_reruns_only_what_a_param_touches(fresh_clone):
    import mlflow

    clone, env = fresh_clone
    dvc = [sys.executable, "-m", "dvc"]
    first = _run([*dvc, "repro"], clone, env)
    assert "Running stage 'curate'" in first and "Running stage 'validate'" in first
    assert (clone / "data/curated/medical_multimodal.parquet").exists()
    assert (clone / "reports/validation/curated.html").exists()

    second = _run([*dvc, "repro"], clone, env)
    assert "Running stage" not in second

    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("near_dup_threshold: 0.85", "near_dup_threshold: 0.8"))
    third = _run([*dvc, "repro"], clone, env)
    assert "Running stage 'curate'" in third and "Running stage 'validate'" in third

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["lingshu"], order_by=["attributes.start_time ASC"])
    assert list(runs["tags.dvc.stage"]) == ["curate", "validate", "curate", "validate"]
    pipelines = list(runs["tags.lingshu.pipeline_id"])
    assert pipelines[0] == pipelines[1] != pipelines[2] == pipelines[3]
    assert set(runs["status"]) == {"FINISHED"}
    curate_run = runs.iloc[2]
    assert curate_run["params.near_dup_threshold"] == "0.8"
    assert curate_run["metrics.inputs"] == curate_run["metrics.kept"] + curate_run["metrics.rejected"]
    assert len(curate_run["tags.mlflow.source.git.commit"]) == 40
    artifacts = mlflow.MlflowClient().list_artifacts(curate_run["run_id"], "plots")
    assert {Path(a.path).name for a in artifacts} == {"distribution.png", "distribution.csv"}
