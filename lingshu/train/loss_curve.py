"""Per-optimiser-step loss and learning rate, kept across resumes and written as a DVC plot CSV.

The curve lives in the callback's state, which Lightning saves in every checkpoint, so a resumed stage
still plots its whole run rather than only the part after the restart.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from lingshu.io import atomic_write_csv


class LossCurve(pl.Callback):
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._losses.append(float(trainer.callback_metrics["train/loss"]))
        step = trainer.global_step
        if step > (self.rows[-1]["step"] if self.rows else 0):
            optimizer = trainer.optimizers[0]
            row = {"step": step, "loss": sum(self._losses) / len(self._losses)}
            row |= {f"lr_{g.get('name', i)}": g["lr"] for i, g in enumerate(optimizer.param_groups)}
            self.rows.append(row)
            self._losses = []

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state.get("rows", []))

    def write(self, path: Path) -> None:
        if not self.rows:
            return
        atomic_write_csv(path, self.rows)
