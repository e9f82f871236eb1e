"""Curation's group-bys shuffle with Ray Data's sort while the corpus is a few blocks and with its task-based hash shuffle
beyond (`lingshu.data.ray_runtime.choose_shuffle`): the choice changes how rows meet, never what is kept.
Both runs are in this process, on a local Ray as the stage starts it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lingshu.data import ray_runtime
from lingshu.data.curate import Curator
from lingshu.data.schema import read_table, table_files

# images, charts with duplicate images, DICOM captions and near-duplicate instructions: both group-bys have
# groups of several rows
KEEP = {"vqa_rad", "dicom", "general_charts", "general_instructions"}


def test_the_shuffle_follows_the_block_count(curate_cfg, monkeypatch):
    import ray.data

    # as curation runs: the session's Ray, or a local one on 127.0.0.1 when a test before has shut it down
    with ray_runtime.ray_session(curate_cfg.ray):
        dataset = ray.data.range(40, override_num_blocks=4).materialize()
        assert ray_runtime.choose_shuffle(dataset) == "sort_shuffle_pull_based"
        monkeypatch.setattr(ray_runtime, "SORT_SHUFFLE_MAX_BLOCKS", 3)
        assert ray_runtime.choose_shuffle(dataset) == "shuffle_v2 (1 partitions)"  # partitions follow the bytes
        monkeypatch.setattr(ray_runtime, "PARTITION_BYTES", -(-dataset.size_bytes() // 3))  # a third, rounded up
        assert ray_runtime.choose_shuffle(dataset) == "shuffle_v2 (3 partitions)"
        derived = dataset.map_batches(lambda batch: batch)  # the group-bys read the context of what they group
        assert derived.context.shuffle_strategy.value == "shuffle_v2"


def _curate(cfg, repo, out) -> tuple[dict, dict, dict]:
    """Every table's rows in reading order, the files they are in, and the run's counts."""
    cfg = replace(cfg, output_dir=str(out / "curated"), rejected_dir=str(out / "rejected"))
    result = Curator(cfg, repo).run()
    tables = {name: read_table(paths).to_pylist() for name, paths in table_files(out / "curated").items()}
    tables["rejected"] = [row.to_row() for row in result.rejected]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    return tables, files, {"rejected": result.counts.rejected_by_reason, "inputs": result.inputs,
                           "kept": result.counts.kept, "images": len(result.counts.images)}


@pytest.mark.slow
def test_hash_and_sort_shuffles_keep_and_reject_the_same_records(curate_cfg, repo, tmp_path, monkeypatch):
    cfg = replace(curate_cfg, sources=[s for s in curate_cfg.sources if s.name in KEEP], benchmarks=["vqa_rad"])
    chosen = []

    def choose_and_record(dataset) -> str:
        chosen.append(ray_runtime.choose_shuffle(dataset))
        return chosen[-1]

    monkeypatch.setattr("lingshu.data.curate.choose_shuffle", choose_and_record)
    by_sort = _curate(cfg, repo, tmp_path / "sort")
    monkeypatch.setattr(ray_runtime, "SORT_SHUFFLE_MAX_BLOCKS", 0)
    monkeypatch.setattr(ray_runtime, "PARTITION_BYTES", 256 * 1024)  # several partitions, as a large corpus has
    by_hash = _curate(cfg, repo, tmp_path / "hash")
    assert chosen[0] == "sort_shuffle_pull_based" and chosen[1].startswith("shuffle_v2")
    assert int(chosen[1].split("(")[1].split()[0]) > 4
    assert by_hash == by_sort
    tables, _, counts = by_sort
    assert counts["rejected"]["duplicate_image"] > 0 and counts["rejected"]["near_duplicate_text"] > 0
    assert len(tables["rejected"]) == sum(counts["rejected"].values())
