"""What keeps curation's memory flat as the corpus grows, checked without Ray: the classifier's training
sample on the driver is bounded and independent of batch order, a shard written a chunk at a time is
the same file, byte for byte, as one written at once, a read task remembers a bounded number of images
without screening any record differently, and a VQA-RAD source is walked without holding its questions."""

from __future__ import annotations

import pickle
import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lingshu.data.finish import FINAL, LABELLED, WRITE_CHUNK, FitSample, write_file
from lingshu.data.schema import ARROW_SCHEMA, Rejected, Sample
from lingshu.io import write_parquet


def _labelled_rows(n_images: int, seed: int) -> list[dict]:
    """Several rows per image (different samples and modalities); the first by (order, position) is the label."""
    rng = random.Random(seed)
    rows = []
    for image in range(n_images):
        key = f"{rng.getrandbits(256):064x}"
        for _ in range(rng.randint(1, 3)):
            rows.append({"order": rng.randrange(10**9), "position": rng.randrange(3), "key": key,
                         "modality": rng.choice(["ct", "mri", "x-ray"]),
                         "features": np.full(4, image, np.float32).tobytes()})
    return rows


def _batches(rows: list[dict], size: int) -> list[pa.Table]:
    return [pa.Table.from_pylist(rows[i:i + size], schema=LABELLED) for i in range(0, len(rows), size)]


def _reference(rows: list[dict], size: int) -> tuple[list[bytes], list[str]]:
    """The sample as a definition: first row per key, the `size` smallest keys, in (order, position) order."""
    first = {}
    for row in sorted(rows, key=lambda r: (r["order"], r["position"])):
        first.setdefault(row["key"], row)
    chosen = sorted((first[k] for k in sorted(first)[:size]), key=lambda r: (r["order"], r["position"]))
    return [r["features"] for r in chosen], [r["modality"] for r in chosen]


def _narrowed(batch: pa.Table, size: int) -> pa.Table:
    sample = FitSample(size)
    sample.add(batch)
    return sample.table()


def _sample(batches: list[pa.Table], size: int) -> tuple[list[bytes], list[str]]:
    sample = FitSample(size)
    for batch in batches:
        sample.add(batch)
    features, labels = sample.features_and_labels()
    return [row.tobytes() for row in features], labels


def test_the_fit_sample_is_bounded_and_does_not_depend_on_batch_order():
    rows = _labelled_rows(500, seed=1)
    for size in (1000, 120, 7):  # no cap at work, then caps well below the distinct images
        expected = _reference(rows, size)
        assert len(expected[1]) == min(size, 500)
        for seed, batch_size in ((0, 13), (1, 64), (2, 1000)):
            shuffled = rows[:]
            random.Random(seed).shuffle(shuffled)
            assert _sample(_batches(shuffled, batch_size), size) == expected
            # as curate runs it: each task narrows its batch to its own sample first (`labelled_images`)
            assert _sample([_narrowed(b, size) for b in _batches(shuffled, batch_size)], size) == expected


def test_the_fit_sample_never_holds_more_than_twice_its_size():
    sample = FitSample(50)
    for batch in _batches(_labelled_rows(2000, seed=2), 17):
        sample.add(batch)
        assert len(sample.first) <= 2 * 50


def _final(order: int) -> tuple:
    if order % 5 == 0:
        record = Rejected(id=f"r{order}", source="src", reason="missing_field", detail="question")
    else:
        record = Sample(id=f"s{order}", source="src", group="medical_text", task="vqa",
                        conversations=[{"role": "user", "content": f"question {order}? " + "words " * (order % 300)},
                                       {"role": "assistant", "content": "yes"}], images=[f"{order:064x}"],
                        modality="ct", modality_source="metadata", meta={"n": order})
    return record, Counter({"email": order % 2}), [], order % 3 == 0


def test_a_shard_written_a_chunk_at_a_time_is_the_file_written_at_once(tmp_path):
    orders = list(range(5 * WRITE_CHUNK + 37))  # a file of several MB: several data pages per column
    finals = {order: _final(order) for order in orders}
    kept = [o for o in orders if isinstance(finals[o][0], Sample)]
    shuffled = kept[:]
    random.Random(3).shuffle(shuffled)  # a group arrives in any order; the file is in record order
    group = pa.Table.from_pylist([{"file": "curated/medical_text/part-000-00000.parquet", "order": o,
                                   "data": pickle.dumps(finals[o])} for o in shuffled], schema=FINAL)
    summary = write_file(group, {"curated": str(tmp_path / "chunked"), "rejected": str(tmp_path / "rejected")})
    write_parquet(tmp_path / "at_once.parquet", [finals[o][0].to_row() for o in kept], ARROW_SCHEMA)

    written = tmp_path / "chunked" / "medical_text" / "part-000-00000.parquet"
    assert written.read_bytes() == (tmp_path / "at_once.parquet").read_bytes()
    assert pq.read_table(written)["id"].to_pylist() == [f"s{o}" for o in kept]
    counts = pickle.loads(summary["summary"][0].as_py())
    assert counts.kept["src"] == len(kept)
    assert counts.labelled_by_classifier == sum(o % 3 == 0 for o in kept)
    assert counts.deid["email"] == sum(o % 2 for o in kept)
    assert counts.images == {f"{o:064x}" for o in kept}


def test_a_screener_that_forgets_images_screens_every_record_the_same(repo, tmp_path):
    from itertools import islice

    from lingshu.config import load_section
    from lingshu.data.screen import Screener
    from lingshu.data.sources import load_source
    from lingshu.data.store import ImageStore

    cfg = load_section("curate", repo / "params.yaml")
    src = next(s for s in cfg.sources if s.name == "vqa_rad")
    records = [r for r in islice(load_source(src, repo), 400) if isinstance(r, Sample)]
    refs = [r.images[0].ref for r in records]
    assert any(refs.index(ref) < i - 2 for i, ref in enumerate(refs))  # an image asked about again, 2+ images later

    def screen(remembered: int | None) -> list:
        screener = Screener(cfg, ImageStore(tmp_path / f"store-{remembered}"))
        if remembered is not None:
            screener.check_image.remembered = remembered
        out = []
        for record in records:
            found = screener.record(record)
            assert len(screener.check_image.cache) <= (remembered or len(refs))
            out.append((found.rejected and (found.rejected.reason, found.rejected.detail), found.images,
                        found.text and found.text.signature))
        return out

    assert screen(2) == screen(None)


def _held_while_walking(src, repo, first: int, last: int) -> int:
    """Bytes allocated (tracemalloc) between the source's `first` and `last` records, the generator still
    running and the records themselves dropped: what the loader keeps per record."""
    import gc
    import tracemalloc
    from itertools import islice

    from lingshu.data.sources import load_source

    gc.collect()
    tracemalloc.start()
    try:
        records = load_source(src, repo)
        for _ in islice(records, first):
            pass
        before = tracemalloc.get_traced_memory()[0]
        for _ in islice(records, last - first):
            pass
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_walking_a_vqa_rad_source_holds_no_question_unless_it_captions_images(tmp_path):
    """Each read task walks its source's whole stream. Without `options.captions` nothing per question may stay
    behind (a million questions were 400 MB per read task); with it, what stays is per image."""
    import json

    from PIL import Image

    from lingshu.config import SourceConfig

    (tmp_path / "images").mkdir()
    for i in range(4):
        Image.new("L", (64, 64), 40 * i).save(tmp_path / "images" / f"img{i}.png")
    questions = [{"qid": q, "image_name": f"img{q % 4}.png", "question": f"Is finding number {q} present here?",
                  "answer": "yes", "answer_type": "CLOSED", "question_type": "PRES", "phrase_type": "freeform",
                  "image_organ": "CHEST"} for q in range(3000)]
    (tmp_path / "vqa.json").write_text(json.dumps(questions))

    def source(captions: bool) -> SourceConfig:
        return SourceConfig(name="vqa", format="vqa_rad_json", path=str(tmp_path / "vqa.json"), group="medical_multimodal",
                            licence="test", options={"image_dir": "images", "captions": captions})

    per_question = [_held_while_walking(source(captions), tmp_path, 500, 2500) / 2000 for captions in (False, True)]
    assert per_question[0] < 100, per_question  # it was about 2.5 KB per question
    assert per_question[1] < 300, per_question  # the qid each caption names (`from_qids`)
