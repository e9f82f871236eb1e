"""Where curation runs: a Ray the stage starts on this machine, or the cluster `RAY_ADDRESS` names.

The same code path serves a laptop and a cluster. With `RAY_ADDRESS` unset the stage starts a local Ray
of its own (bound to 127.0.0.1, its dashboard off unless asked, its session files under `curate.ray.temp_folder`,
never in the home folder) and stops it when it is done; with `RAY_ADDRESS` set it joins that cluster and
leaves it running. A Ray that is already initialised in this process (a test's cluster) is used as it is.
Its two group-bys shuffle with Ray Data's sort-based shuffle while the corpus is a few blocks, and with its
task-based hash shuffle (`SHUFFLE_V2`) beyond (`choose_shuffle`): the sort splits every block into one piece
per block, and the driver keeps every piece's bookkeeping (and the pieces under 100 KB themselves), so its
memory grows with the square of the block count. The hash shuffle's map tasks split blocks by key hash into
partitions of about `PARTITION_BYTES` of the corpus each, and one reduce task per partition groups it, so a
task holds a bounded share whatever the corpus; on 1M records it ran faster than the actor-based
`HASH_SHUFFLE` and kept Ray's services flat (benchmarks/README.md, "Curation at scale"). The driver still
tracks map tasks x partitions pieces, which grows with the square of the corpus: sized by bytes rather than one
partition per block (16 MiB), they are half of what they were. A small corpus keeps the sort.

What every task reads (the benchmark index, the decisions, the classifier) travels as a `Broadcast`: put in
the object store once and deserialised once per worker process, not once per task as a task's arguments are.
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Generic, Iterator, TypeVar

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
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED  # until `choose_shuffle` has seen the corpus
    ctx.target_max_block_size = BLOCK_BYTES
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False


# Ray Data's blocks: a task buffers its output up to this size, so a worker's memory is bounded by a few
# blocks whatever the corpus (Ray's default, 128 MiB, let a labelling task hold 0.8 GB). A sort-based
# group-by splits every input block into one piece per output block, and pieces under 100 KB are returned
# inline to the driver's memory: blocks much smaller than this multiply those pieces.
BLOCK_BYTES = 16 * 1024**2

# Above this many blocks the group-bys use the hash shuffle. The sort-based shuffle makes blocks**2 pieces: on
# 1M records (290 blocks) the driver peaked at 5.0 GB with it and at 0.5 GB with a hash shuffle; on 100k
# records (32 blocks) at 0.4 GB with the sort (benchmarks/README.md, "Curation at scale").
SORT_SHUFFLE_MAX_BLOCKS = 32
MAP_BATCH_BYTES = 4 * BLOCK_BYTES  # what a hash-shuffle map task splits at once, into one piece per partition
# A hash shuffle's partitions, one reduce task each, hold about this much of the screened corpus (the group-by
# keys are somewhat less, the labelled rows about as much). The driver tracks every piece: map tasks x
# partitions, so partitions sized by bytes rather than one per block (290 at 1M records) halve the pieces,
# while a reducer's memory stays bounded whatever the corpus (at 64 MiB a key reducer peaked at 474 MB on 1M).
PARTITION_BYTES = 2 * BLOCK_BYTES


def choose_shuffle(dataset) -> str:
    """Set the shuffle of the group-bys that follow from `dataset` (materialized: its block count is known),
    and return what was chosen. The strategy decides how rows meet, never which rows share a group."""
    from ray.data.context import ShuffleStrategy

    ctx = dataset.context
    if dataset.num_blocks() <= SORT_SHUFFLE_MAX_BLOCKS:
        ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        return ctx.shuffle_strategy.value
    ctx.shuffle_strategy = ShuffleStrategy.SHUFFLE_V2
    ctx.default_hash_shuffle_parallelism = math.ceil(dataset.size_bytes() / PARTITION_BYTES)  # the group-bys name none
    # a map task's input: Ray's default buffers 1 GiB of blocks; a block's worth would cut it into pieces under
    # Ray's 100 KB inline limit, which the driver would hold (as with the sort)
    ctx.shuffle_input_batch_bytes = MAP_BATCH_BYTES
    return f"{ctx.shuffle_strategy.value} ({ctx.default_hash_shuffle_parallelism} partitions)"


T = TypeVar("T")
_FETCHED: OrderedDict[str, Any] = OrderedDict()  # this worker's broadcast values, by object id
_KEEP = 4  # the values of one curation run at most; older ones are let go


class Broadcast(Generic[T]):
    """A value every task of a stage reads, put in Ray's object store by the driver. Ray Data deserialises a
    UDF's arguments again in every task (the benchmark index, 11 MB pickled, took 0.3 s each time); `get`
    deserialises it once per worker process and keeps it for the worker's next tasks."""

    def __init__(self, value: T):
        import ray

        self.ref = ray.put(value)

    def get(self) -> T:
        import ray

        key = self.ref.hex()
        if key not in _FETCHED:
            _FETCHED[key] = ray.get(self.ref)
            while len(_FETCHED) > _KEEP:
                _FETCHED.popitem(last=False)
        return _FETCHED[key]
