"""Lightning strategies by name, including DeepSpeed ZeRO-2/3 on the CPU.

Stock Lightning refuses DeepSpeed unless the accelerator is CUDA. DeepSpeed itself runs on the CPU
(its CPU accelerator and the gloo backend), so `CPUDeepSpeedStrategy` changes only what stands in the
way: it skips the CUDA check and the device-index check, initialises DeepSpeed's process group with
gloo, and reports `cpu:<local rank>` as its device (deepspeed.initialize needs an index). Everything
else, the client optimizer and LR scheduler from `configure_optimizers` included, is the stock
strategy (Lightning's default config already sets `zero_allow_untested_optimizer`, which AdamW needs).
That lets the ZeRO code path be tested on a laptop or CI before it meets a GPU cluster; on a machine
with CUDA the stock strategy is used. The first DeepSpeed run JIT-compiles a CPU comm op (~50 s),
cached under <repo>/.cache/torch_extensions unless TORCH_EXTENSIONS_DIR says otherwise.

After a ZeRO-3 fit each parameter holds only its shard (the full tensors are empty): read or save the
weights inside `gathered(model)`, entered on every rank since it is a collective.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch
from lightning_fabric.utilities.seed import reset_seed
from pytorch_lightning.strategies import DeepSpeedStrategy, Strategy
from pytorch_lightning.strategies.ddp import DDPStrategy

os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(__file__).resolve().parents[2] / ".cache" / "torch_extensions"))

STRATEGIES = ("auto", "ddp", "deepspeed_stage_2", "deepspeed_stage_3")


class CPUDeepSpeedStrategy(DeepSpeedStrategy):
    """DeepSpeed ZeRO on CPU processes (gloo), for testing the sharded path without a GPU."""

    def setup_environment(self) -> None:
        DDPStrategy.setup_environment(self)  # what DeepSpeedStrategy does after its CUDA-only check

    def setup_distributed(self) -> None:
        reset_seed()  # as DeepSpeedStrategy, minus its check that device indices match local ranks
        self.set_world_ranks()
        self._init_deepspeed_distributed()

    def _get_process_group_backend(self) -> str:
        return "gloo"

    @property
    def root_device(self) -> torch.device:
        return torch.device("cpu", self.local_rank)  # deepspeed.initialize reads device_rank from its index


def make_strategy(name: str) -> str | Strategy:
    """What to pass as `pl.Trainer(strategy=...)` for a `train.common.strategy` name."""
    if name not in STRATEGIES:
        raise ValueError(f"train.common.strategy {name!r} is not one of {', '.join(STRATEGIES)}")
    if not name.startswith("deepspeed"):
        return name
    stage = int(name[-1])
    if torch.cuda.is_available():
        return DeepSpeedStrategy(stage=stage)
    return CPUDeepSpeedStrategy(stage=stage)


@contextmanager
def gathered(model: torch.nn.Module):
    """Full (read-only) weights of a ZeRO-3 partitioned model inside the block; a no-op for any other model."""
    partitioned = [p for p in model.parameters() if hasattr(p, "ds_id")]
    if not partitioned:
        yield
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(partitioned, modifier_rank=None):
        yield
