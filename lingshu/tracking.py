"""MLflow tracking for stage runs: one run per stage execution, grouped by pipeline, credentials masked.

The default store is a sqlite file at the repo root (artifacts beside it), so `mlflow ui` works with no
server; setting MLFLOW_TRACKING_URI (or `tracking.tracking_uri`) to a server changes nothing else.
Every run carries the DVC stage name, the git commit, and a pipeline id shared by all the stages that
one `dvc repro` (or `dvc exp run`) executed, so a user can filter the UI down to one reproduction.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from lingshu.config import TrackingConfig, flatten
from lingshu.redact import MASK, SECRET_NAME, redact, redacted_output

# MLflow 3's UI opens an experiment without this tag on its GenAI trace views, calling runs "Evaluations"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# a whole value that is an HTTP authorisation value, whatever its key is called
CREDENTIAL_VALUE = re.compile(r"^\s*(bearer|basic|token|digest)\s+\S", re.I)
TEXT_ARTIFACTS = (".json", ".jsonl", ".md", ".txt", ".csv", ".html", ".yaml", ".yml", ".log")  # masked before logging


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
    """MLflow params must never carry secrets: keys named like a credential are dropped, values that are
    one (`Bearer ...`) are masked whatever their key, and the rest go through `redact` (a URL keeps its
    user but not its password; key-shaped strings and secret environment values are masked)."""
    out = {}
    for key, value in params.items():
        if SECRET_NAME.search(key.rsplit(".", 1)[-1]):
            continue
        if isinstance(value, str):
            value = MASK if CREDENTIAL_VALUE.match(value) else redact(value)
        out[key] = value
    return out


def set_tags(tags: dict[str, str]) -> None:
    """Tags of the active run, credentials masked."""
    import mlflow

    mlflow.set_tags({key: redact(str(value)) for key, value in tags.items()})


def log_artifact(path: Path, artifact_path: str | None = None) -> None:
    """A file, or a folder's files (as `mlflow.log_artifacts` lays them out: under `artifact_path`), as
    artifacts of the active run; text files (TEXT_ARTIFACTS) go as masked copies when they hold a credential."""
    import tempfile

    import mlflow

    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    with tempfile.TemporaryDirectory() as scratch:
        for file in files:
            inside = str(file.parent.relative_to(path)) if path.is_dir() else "."
            folder = "/".join(p for p in (artifact_path or "", inside) if p not in ("", ".")) or None
            if file.suffix in TEXT_ARTIFACTS:
                text = file.read_text(errors="replace")
                if redact(text) != text:
                    file = Path(scratch) / file.name
                    file.write_text(redact(text))
            mlflow.log_artifact(str(file), artifact_path=folder)


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
    experiment = mlflow.set_experiment(name)
    if experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        mlflow.set_experiment_tag(*EXPERIMENT_KIND)


def log_params(params: dict[str, Any]) -> None:
    """Params of the active run, credentials dropped, in batches of MLflow's maximum size."""
    import mlflow

    items = list(safe_params(params).items())
    for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
        mlflow.log_params({k: str(v)[:6000] for k, v in items[start : start + 100]})


def recorded_outputs(root: Path) -> dict[str, str]:
    """Output path -> the md5 DVC recorded for it in dvc.lock (none without a lock)."""
    lock = root / "dvc.lock"
    if not lock.exists():
        return {}
    import yaml

    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values()
    return {out["path"]: out["md5"] for stage in stages for out in stage.get("outs", []) if out.get("md5")}


DIGEST_CHUNK = 4 * 1024**2


def input_digest(root: Path, path: str, recorded: dict[str, str] | None = None) -> str:
    """A short content digest of an input file or folder: the md5 DVC recorded for it as some stage's
    output (`recorded`, read from dvc.lock when not given: no re-hashing of a large image store), else a
    sha256 of its files' names and bytes, read in chunks (a source file may be larger than memory)."""
    md5 = (recorded_outputs(root) if recorded is None else recorded).get(path)
    if md5:
        return md5.removesuffix(".dir")[:16]
    digest = hashlib.sha256()
    target = root / path
    for file in sorted(target.rglob("*")) if target.is_dir() else [target]:
        if file.is_file():
            digest.update(str(file.relative_to(target if target.is_dir() else target.parent)).encode())
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(DIGEST_CHUNK), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


def log_inputs(root: Path, paths: list[str], context: str) -> None:
    """Record each input path (repo-relative) on the active run with `mlflow.log_input`, so the run's
    Dataset column says which curated data, checkpoint or benchmark version it used."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    recorded = recorded_outputs(root)  # dvc.lock read once for all the inputs
    for path in paths:
        if (root / path).exists():
            source = resolve_dataset_source((root / path).resolve().as_uri())
            mlflow.log_input(MetaDataset(source, name=path, digest=input_digest(root, path, recorded)), context=context)


def numeric_leaves(metrics: dict, prefix: str = "") -> dict[str, float]:
    """A nested metrics dict as MLflow metric names: nested keys joined by ".", numbers only (bools,
    strings and lists are left to the metrics file)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out |= numeric_leaves(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def log_stage_metrics(metrics: dict, files: list[Path] = (), plots: list[Path] = ()) -> dict[str, float]:
    """What every stage logs at its end: its metrics (nested dicts flattened) on the active run, and the
    files it wrote as artifacts (its metrics file and tables; plots under `plots/`); returns the flat metrics."""
    import mlflow

    flat = numeric_leaves(metrics)
    mlflow.log_metrics(flat)
    for file in files:
        log_artifact(file)
    for plot in plots:
        log_artifact(plot, "plots")
    return flat


def lightning_logger(run, tracking: TrackingConfig):
    """Lightning's MLflow logger writing into the stage's own run, so the per-step curves land beside its params."""
    import mlflow
    from pytorch_lightning.loggers import MLFlowLogger

    return MLFlowLogger(experiment_name=tracking.experiment, tracking_uri=mlflow.get_tracking_uri(),
                        run_id=run.info.run_id)


@contextmanager
def stage_run(stage: str, config: Any, tracking: TrackingConfig | None = None, inputs: list[str] = (),
              context: str = "training") -> Iterator[Any]:
    """An MLflow run for one stage execution, with params, standard tags, its inputs (repo-relative
    paths, logged as datasets under `context`) and the run's status."""
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
    with redacted_output(), mlflow.start_run(run_name=stage) as run:
        set_tags(tags)
        log_params(flatten(config))
        log_inputs(root, list(inputs), context)
        yield run
