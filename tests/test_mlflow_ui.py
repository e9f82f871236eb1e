"""The MLflow UI really shows the ablation summary runs side by side: a headless Chromium looks.

The summary runs are logged by the same code `lingshu ablate` uses (lingshu.report.ablation), into a
store of their own; `mlflow ui` serves it on 127.0.0.1, and Chromium (Debian's package, driven by
Selenium through Debian's chromedriver) opens the experiment's run comparison, where every variant and
its benchmark metrics must appear. The screenshot is saved beside the test's temporary files (and into
$LINGSHU_SCREENSHOT_DIR when that is set).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.services import debian_programs, free_port, http_ok, wait_until

pytestmark = pytest.mark.slow

VARIANTS = {"full": 0, "no-medical-text": -3, "no-general-text": 1}  # system -> questions gained vs full


def _summary_runs(uri: str) -> None:
    """Three systems' summary runs, logged by the ablation report's own code."""
    from lingshu.config import TrackingConfig
    from lingshu.report.ablation import Replicate, System, log_summary_runs
    from lingshu.report.compare import compare_systems
    from lingshu.report.variants import Variant

    questions = [str(i) for i in range(40)]
    scores = {name: {"vqa_rad": {q: float(i < 20 + gain) for i, q in enumerate(questions)}} for name, gain in VARIANTS.items()}
    comparison = compare_systems("full", scores, {"vqa_rad": "multimodal_qa"}, resamples=200)
    params = "train:\n  instruct:\n    lr: {language_model: 0.001}\neval:\n  limit: 40\n"

    def reader(name: str):
        suite = {"benchmarks": {"vqa_rad": {"score": 100 * (20 + VARIANTS[name]) / 40, "ci_low": 0.0, "ci_high": 100.0}}}
        files = {"params.yaml": params, "metrics/eval/instruct.json": json.dumps(suite)}
        return lambda path: files[path]

    systems = [System(name, name, "instruct", [Replicate(0, reader(name))], Variant(name, name, {"x.y": 1}))
               for name in VARIANTS]
    os.environ["MLFLOW_TRACKING_URI"] = uri
    log_summary_runs(Path.cwd(), systems, comparison, TrackingConfig(experiment="lingshu"), [])


def test_run_comparison_in_the_mlflow_ui_shows_every_variant_and_its_metrics(tmp_path, monkeypatch):
    chromium, chromedriver = debian_programs(["chromium", "chromium-driver"], ["chromium", "chromedriver"])
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _summary_runs(uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name("lingshu-ablations")
    runs = mlflow.search_runs([experiment.experiment_id], filter_string="tags.`lingshu.variant` != ''")
    assert sorted(runs["tags.lingshu.variant"]) == sorted(VARIANTS)

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", uri, "--workers", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1200"):
        options.add_argument(flag)
    driver = None
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), "mlflow ui", server)
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        query = urllib.parse.urlencode({"runs": json.dumps(list(runs["run_id"])),
                                        "experiments": json.dumps([experiment.experiment_id])})
        driver.get(f"http://127.0.0.1:{port}/#/compare-runs?{query}")
        # the metrics grid renders its first rows (alphabetical) without scrolling: the group columns and the
        # benchmark's score; each variant's change, in points, is 100 x its gain / 40 questions
        deltas = [f"{100 * gain / 40:g}" for gain in VARIANTS.values() if gain]
        wanted = [*VARIANTS, "group/multimodal_qa/delta", "vqa_rad/score", *deltas]
        try:
            WebDriverWait(driver, 90).until(lambda d: all(w in d.find_element("tag name", "body").text for w in wanted))
        finally:
            shot = tmp_path / "mlflow_compare.png"
            driver.save_screenshot(str(shot))
            if os.environ.get("LINGSHU_SCREENSHOT_DIR"):
                shutil.copy(shot, Path(os.environ["LINGSHU_SCREENSHOT_DIR"]) / shot.name)
        assert shot.stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
