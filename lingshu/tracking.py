"""MLflow tracking for stage runs: one run per stage execution, grouped by pipeline.

The default store is a sqlite file at the repo root (artifacts beside it), so `mlflow ui` works with no
server; setting MLFLOW_TRACKING_URI (or `tracking.tracking_uri`) to a server changes nothing else.
Every run carries the DVC stage name, the git commit, and a pipeline id shared by all the stages that
one `dvc repro` (or `dvc exp run`) executed, so a user can filter the UI down to one reproduction.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from lingshu.config import TrackingConfig, flatten

SECRET_MARKERS = ("token", "secret", "password", "api_key", "apikey", "credential")


def repo_root() -> Path:
    """The nearest parent of the working directory holding dvc.yaml or .git: where a stage reads and writes.

    Not $DVC_ROOT: in a queued experiment DVC runs the stage in a temporary copy of the repo but points
    DVC_ROOT at the original, so outputs written there would land in the user's workspace.
    """
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists() or (candidate / ".git").exists():
            return candidate
    return here


def store_home(root: Path) -> Path:
    """Where the default MLflow store lives: the user's repo. Inside a queued experiment's temporary copy
    DVC_ROOT names the user's repo; a store in the copy would be deleted with it."""
    return Path(os.environ.get("DVC_ROOT") or root)


def tracking_uri(cfg: TrackingConfig, root: Path) -> str:
    return cfg.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_home(root) / 'mlflow.db'}"


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _dvc_ancestor() -> tuple[int, str] | None:
    """(pid, start time) of the `dvc` process this stage runs under, read from /proc (Linux)."""
    pid = os.getppid()
    for _ in range(12):
        if pid <= 1:
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        if any(Path(a.decode(errors="replace")).name == "dvc" for a in argv[:3]):  # dvc, python [-m] dvc
            return pid, stat.rsplit(")", 1)[1].split()[19]
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return None


def pipeline_id() -> str:
    """Shared by every stage of one `dvc repro`: $LINGSHU_PIPELINE_ID, else derived from the dvc process."""
    if os.environ.get("LINGSHU_PIPELINE_ID"):
        return os.environ["LINGSHU_PIPELINE_ID"]
    ancestor = _dvc_ancestor()
    if ancestor is None:
        return f"adhoc-{uuid.uuid4().hex[:12]}"
    digest = hashlib.sha1(f"{socket.gethostname()}:{ancestor[0]}:{ancestor[1]}".encode()).hexdigest()
    return f"repro-{digest[:12]}"


def safe_params(params: dict[str, Any]) -> dict[str, Any]:
    """Drop anything that looks like a credential; MLflow params must never carry secrets."""
    return {k: v for k, v in params.items() if not any(m in k.lower() for m in SECRET_MARKERS)}


def use_experiment(tracking: TrackingConfig, root: Path, name: str | None = None) -> None:
    """Point MLflow at the store and make `name` (default: tracking.experiment) the active experiment,
    creating it with its artifacts beside the repo's sqlite store when it is new."""
    import mlflow

    name = name or tracking.experiment
    uri = tracking_uri(tracking, root)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(name) is None:
        location = (store_home(root) / tracking.artifact_dir).resolve().as_uri() if uri.startswith("sqlite:") else None
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def log_params(params: dict[str, Any]) -> None:
    """Params of the active run, credentials dropped, in batches of MLflow's maximum size."""
    import mlflow

    items = list(safe_params(params).items())
    for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
        mlflow.log_params({k: str(v)[:6000] for k, v in items[start : start + 100]})


@contextmanager
def stage_run(stage: str, config: Any, tracking: TrackingConfig | None = None) -> Iterator[Any]:
    """An MLflow run for one stage execution, with params, standard tags and the run's status."""
    import mlflow

    tracking = tracking or TrackingConfig()
    root = repo_root()
    use_experiment(tracking, root)
    tags = {
        "lingshu.pipeline_id": pipeline_id(),
        "lingshu.stage": stage,
        "dvc.stage": os.environ.get("DVC_STAGE", stage),
        "mlflow.source.git.commit": git_commit(root),
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    with mlflow.start_run(run_name=stage, tags=tags) as run:
        log_params(flatten(config))
        yield run
