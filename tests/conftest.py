"""Shared fixtures: offline, repo-local caches, and curate configs that write into a temp folder."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ.setdefault("MPLCONFIGDIR", "/tmp/lingshu-mpl")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def curate_cfg(tmp_path):
    """The real params.yaml curate section, with every output redirected into tmp_path."""
    from lingshu.config import load_section

    cfg = load_section("curate", REPO / "params.yaml")
    return replace(
        cfg,
        output_dir=str(tmp_path / "curated"),
        image_store=str(tmp_path / "images"),
        rejected_dir=str(tmp_path / "rejected"),
        metrics_file=str(tmp_path / "metrics" / "curate.json"),
        plots_dir=str(tmp_path / "plots"),
    )


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
