"""Where curation runs: a Ray the stage starts on this machine, or the cluster `RAY_ADDRESS` names.

The same code path serves a laptop and a cluster. With `RAY_ADDRESS` unset the stage starts a local Ray
of its own (bound to 127.0.0.1, its dashboard off unless asked, its session files under `curate.ray.temp_folder`,
never in the home folder) and stops it when it is done; with `RAY_ADDRESS` set it joins that cluster and
leaves it running. A Ray that is already initialised in this process (a test's cluster) is used as it is.
Ray Data's sort-based shuffle is chosen because its hash shuffle starts actor pools, which on a small
machine costs more than the whole group-by (seconds per shuffle on 2 cores).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

from lingshu.config import RayConfig


@contextmanager
def ray_session(cfg: RayConfig) -> Iterator[None]:
    """Ray initialised for the block (local, joined or already there), with Ray Data set up for curation."""
    import ray

    started = False
    if not ray.is_initialized():
        options = dict(include_dashboard=cfg.dashboard, log_to_driver=cfg.log_to_driver, configure_logging=False,
                       logging_level=logging.WARNING)
        if os.environ.get("RAY_ADDRESS"):
            ray.init(**options)
        else:  # no token: the local Ray listens on 127.0.0.1 only, and a token would be written to ~/.ray
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            os.makedirs(cfg.temp_folder, exist_ok=True)
            ray.init(address="local", num_cpus=cfg.num_cpus or None, _node_ip_address="127.0.0.1",
                     _temp_dir=cfg.temp_folder, **options)
        started = True
    configure_data_context()
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def configure_data_context() -> None:
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    ctx = DataContext.get_current()
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False
