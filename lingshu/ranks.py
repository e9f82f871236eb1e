"""Which process of a multi-process launch this is, known before Lightning starts.

A training stage may run as several processes: Lightning starts one per device itself on one node,
`srun` starts one per SLURM task, `torchrun` one per `--nproc-per-node` on every node. Each runs the
stage script from the top. Only the first (global rank 0) opens the MLflow run, measures the saved
checkpoint and writes the stage's metrics and plots; the others train, take part in gathering the
ZeRO-3 shards for the save, and exit. The launchers give the rank in environment variables.
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")  # torchrun; srun; Lightning's own launcher


def is_global_zero() -> bool:
    """True in the first process of the launch, and in a process that no launcher started."""
    return all(int(os.environ.get(name) or 0) == 0 for name in RANK_VARIABLES)
