"""Running declared variants as DVC experiments and reading their results back, without touching the workspace.

Variants are queued with `dvc exp run --queue -n <name> -S ... evaluate@<checkpoint>` and run with
`dvc exp run --run-all`: each runs in its own temporary copy, and DVC restores every stage whose inputs
did not change from its cache, so a variant that only changes instruction data re-runs instruction
tuning and its evaluation, nothing upstream. The queue's workers inherit this process's environment;
the MLflow tracking URI is pinned to the main repo's store first, or each temporary copy would log into
a database of its own that is deleted with it.

A finished experiment is a git commit under refs/exps/; its files (git-tracked metrics, DVC-cached
predictions) are read at that commit with `dvc.api`, so reporting never needs `dvc exp apply`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path



@dataclass
class Finished:
    name: str
    rev: str           # the experiment's commit
    baseline: str      # the commit it was run on top of


def dvc(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the venv's dvc in repo, streaming its output; raise naming the command when it fails. The venv
    comes first on PATH, so that the stages' `python ...` commands run in it even when it is not activated."""
    command = [sys.executable, "-m", "dvc", *args]
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(command, cwd=repo, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"`dvc {' '.join(args)}` failed with exit code {done.returncode}")
    return done


@dataclass
class Planned:
    """One experiment to queue: its name, its `-S` flags and the stage it reproduces up to (None: all)."""

    name: str
    flags: list[str]
    target: str | None


def run_planned(repo: Path, planned: list[Planned], tracking_uri: str, jobs: int = 1) -> list[str]:
    """Queue every planned experiment not already finished on the current commit, then run the queue
    (blocking until all are done); returns the names queued. Queue order is run order with one job, so an
    experiment queued after another reuses its cached stages (a variant's seed after the full model's)."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    done = {name for name, run in finished(repo).items() if run.baseline == head}
    queued = [p for p in planned if p.name not in done]
    if queued:
        require_committed_lock(repo)
    for experiment in queued:
        dvc(repo, "exp", "run", "--queue", "-n", experiment.name, *experiment.flags,
            *([experiment.target] if experiment.target else []), env=env)
    if queued:
        dvc(repo, "exp", "run", "--run-all", "--jobs", str(jobs), env=env)
    return [p.name for p in queued]


def require_committed_lock(repo: Path) -> None:
    """Queued experiments start from the last commit (untracked files stay behind): without a committed,
    unmodified dvc.lock every stage would run again, the full model's included."""
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "dvc.lock"], cwd=repo, capture_output=True)
    clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "dvc.lock", "params.yaml"], cwd=repo)
    if tracked.returncode or clean.returncode:
        raise RuntimeError("dvc.lock and params.yaml must be committed before variants are queued: run `dvc repro`, "
                           "then `git add dvc.lock params.yaml && git commit`")


def finished(repo: Path) -> dict[str, Finished]:
    """Experiment name -> its newest finished run (commit and baseline), from refs/exps."""
    out = subprocess.run(["git", "for-each-ref", "--sort=creatordate", "--format=%(refname) %(objectname)", "refs/exps"],
                         cwd=repo, capture_output=True, text=True, check=True).stdout
    found: dict[str, Finished] = {}
    for line in out.splitlines():
        ref, rev = line.split()
        if ref.startswith("refs/exps/celery") or ref.count("/") < 4:  # the queue's own bookkeeping refs
            continue
        parent = subprocess.run(["git", "rev-parse", f"{rev}^"], cwd=repo, capture_output=True, text=True, check=True)
        found[ref.rsplit("/", 1)[1]] = Finished(ref.rsplit("/", 1)[1], rev, parent.stdout.strip())
    return found


def read_text(repo: Path, path: str, rev: str | None) -> str:
    """A file of the repo at an experiment's commit (None: the workspace), git-tracked or DVC-cached."""
    if rev is None:
        return (repo / path).read_text()
    import dvc.api

    return dvc.api.read(path, repo=str(repo), rev=rev)
