"""The Great Expectations gate passes on good curate outputs and fails, loudly, on bad ones."""

import json
from dataclasses import replace

import pytest

from lingshu.checks.run import run_checks
from lingshu.checks.suites import describe_failures
from lingshu.config import ValidateConfig
from lingshu.data.curate import Curator
from lingshu.data.curate_report import build_metrics
from lingshu.data.schema import ARROW_SCHEMA, read_table, table_files
from lingshu.data.store import ImageStore, write_store
from lingshu.io import atomic_write_json, write_parquet


@pytest.fixture
def curated(curate_cfg, repo, tmp_path):
    keep = {"vqa_rad", "dicom", "general_charts", "pubmedqa"}
    cfg = replace(curate_cfg, sources=[s for s in curate_cfg.sources if s.name in keep],
                  benchmarks=["vqa_rad", "pubmedqa"])
    curator = Curator(cfg, repo)
    result = curator.run()
    atomic_write_json(cfg.metrics_file, build_metrics(result))
    validate = ValidateConfig(suites_dir=str(repo / "data_checks"), results_dir=str(tmp_path / "results"))
    return cfg, validate


def test_good_outputs_pass_every_suite_and_write_results(curated, repo, tmp_path):
    cfg, validate = curated
    outcomes = run_checks(cfg, validate, repo)
    assert {o.suite for o in outcomes} == {"curated", "rejected", "conservation"}
    assert all(o.success for o in outcomes), describe_failures(outcomes)
    for suite in ("curated", "rejected", "conservation"):
        assert json.loads((tmp_path / "results" / f"{suite}.json").read_text())["success"] is True
        assert "passed" in (tmp_path / "results" / f"{suite}.html").read_text()


def test_a_missing_image_fails_naming_suite_expectation_and_row(curated, repo):
    cfg, validate = curated
    table = read_table(table_files(cfg.output_dir)["medical_caption"]).to_pylist()
    store = ImageStore(repo / cfg.image_store)
    write_store(store.root, {key: store.read(key) for key in store.keys() - {table[0]["images"][0]}})
    outcomes = run_checks(cfg, validate, repo)
    message = describe_failures(outcomes)
    assert "suite 'curated'" in message and "images_resolve" in message and table[0]["id"] in message


def test_a_smuggled_benchmark_question_and_lost_record_fail(curated, repo):
    cfg, validate = curated
    shards = table_files(cfg.output_dir)["medical_multimodal"]
    rows = read_table(shards).to_pylist()
    test_row = next(r for r in rows if r["split"] == "test")
    smuggled = dict(test_row, id="vqa_rad:smuggled", split="train")

    def rewrite(table_rows):  # the group's shards replaced by one shard holding these rows
        for shard in shards:
            shard.unlink()
        write_parquet(shards[0], table_rows, ARROW_SCHEMA)

    rewrite([r for r in rows if r is not test_row] + [smuggled])
    outcomes = {o.suite: o for o in run_checks(cfg, validate, repo)}
    failed = {f["kwargs"].get("column") or f["kwargs"].get("column_A") for f in outcomes["curated"].failed}
    assert "unflagged_benchmark_overlap" in failed
    # one vqa_rad record was replaced by a row of another id: the recount still balances, but a deleted row would not
    rewrite(rows[1:])
    conservation = next(o for o in run_checks(cfg, validate, repo) if o.suite == "conservation")
    assert not conservation.success
    assert conservation.failed[0]["examples"][0]["source"] == rows[0]["source"]
