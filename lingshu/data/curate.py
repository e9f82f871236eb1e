"""The `curate` stage on Ray Data: every source record is filtered, deduplicated, decontaminated,
de-identified and labelled, and ends up in exactly one place — a curated table (a folder of Parquet shards
per data group) or the rejected table with its reason. Conservation (inputs = kept + rejected, per source)
is asserted before anything is reported as done.

The same code runs on a laptop and on a cluster (`lingshu.data.ray_runtime`). Records flow as Ray
datasets and no process holds the corpus:
1. the benchmarks' test items are fingerprinted in Ray tasks and indexed on the driver (they are small);
2. read tasks load and screen shards of the sources and decontaminate them against that index
   (`lingshu.data.reading`); the screened records are materialised in Ray's object store;
3. one group-by finds the records that share an image pHash or a text LSH band; the driver decides the
   image and near-duplicate losers from those groups alone (`lingshu.data.resolve`);
4. the modality classifier is fitted on the distinct labelled images, and tasks (classifier actors when it
   runs on GPUs) apply all the decisions and labels while writers put each shard to disk (`lingshu.data.finish`);
5. tasks pack the kept images, staged by the read tasks, into the image store's shards (`lingshu.data.store`).
Decisions depend on (source priority, record position) only, never on how many tasks or nodes ran.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lingshu.config import CurateConfig, problems_of
from lingshu.data.decontam import BenchmarkIndex, select_benchmarks
from lingshu.data.finish import Counts, Finisher, finish_batch, fit_classifier, labelled_images, write_file
from lingshu.data.modality import ModalityClassifier
from lingshu.data.ray_runtime import Broadcast, choose_shuffle, ray_session
from lingshu.data.reading import fingerprint_benchmark_shard, ordered_sources, read_source_shard
from lingshu.data.resolve import Resolution, band_ranges, resolve_group, shuffle_keys
from lingshu.data.schema import REJECTED_SCHEMA, Rejected, Sample, read_table, table_files
from lingshu.data.sources import check_source
from lingshu.data.store import ImageStore, KeySet, write_shard
from lingshu.io import replaced_folder, write_parquet


@dataclass
class CurationResult:
    """What a run counted; `kept` and `rejected` read its tables back (for inspection: they load every row)."""

    counts: Counts
    benchmarks: BenchmarkIndex
    output_dir: Path
    rejected_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> Counter:
        return self.counts.inputs

    @property
    def overlaps(self) -> Counter:
        return self.counts.overlaps

    @property
    def kept(self) -> dict[str, list[Sample]]:
        return {group: [Sample.from_row(r) for r in read_table(paths).to_pylist()]
                for group, paths in table_files(self.output_dir).items()}

    @property
    def rejected(self) -> list[Rejected]:
        return [Rejected.from_row(r) for paths in table_files(self.rejected_dir).values()
                for r in read_table(paths).to_pylist()]


def _tasks(shards: int, ranks: int = 1) -> list[dict]:
    return [{"rank": rank, "shard": shard, "shards": shards} for rank in range(ranks) for shard in range(shards)]


class Curator:
    def __init__(self, cfg: CurateConfig, repo: Path):
        self.cfg, self.repo = cfg, repo
        self.store = ImageStore(repo / cfg.image_store, cfg.images_per_shard)

    def check(self) -> list:
        problems = problems_of(self.cfg, "curate.")  # the load-time checks, for a config built in code
        if problems:
            raise ValueError("; ".join(problems))
        for src in self.cfg.sources:  # a misspelt option or a missing path fails before any work
            check_source(src, self.repo)
        return select_benchmarks(self.cfg.benchmarks)

    def run(self) -> CurationResult:
        """Curate every source and write the curated and rejected tables and the image store (each folder
        replaced as a whole, the store holding exactly the images kept samples refer to)."""
        benches = self.check()
        with ray_session(self.cfg.ray):
            benchmarks = self.benchmark_index(benches)
            screened = self.screen(benchmarks)
            print(f"curate: {screened.num_blocks()} blocks screened; group-by shuffle: {choose_shuffle(screened)}",
                  flush=True)
            lost = Broadcast(self.resolve(screened))  # the driver lets go of its copy once it is in the object store
            counts, metrics = self.finish(screened, lost)
            metrics["images_pruned"] = self.store.pack(counts.images, self.write_shards)
        metrics["images_stored"] = len(counts.images)
        return CurationResult(counts, benchmarks, self.repo / self.cfg.output_dir, self.repo / self.cfg.rejected_dir,
                              metrics)

    def _read(self, fn, tasks: list[dict], **kwargs):
        import ray.data

        return ray.data.from_items(tasks, override_num_blocks=len(tasks)).map_batches(
            fn, batch_size=1, batch_format="numpy", num_cpus=self.cfg.ray.cpus_per_task,
            fn_kwargs={"cfg": self.cfg, "repo": str(self.repo)} | kwargs)

    def benchmark_index(self, benches: list) -> BenchmarkIndex:
        import pickle

        shards = self.cfg.ray.shards_per_source
        rows = self._read(fingerprint_benchmark_shard, _tasks(shards), benches=benches).take_all() if benches else []
        items = [pickle.loads(r["payload"]) for r in sorted(rows, key=lambda r: r["position"])]
        return BenchmarkIndex.build(items, self.cfg.decontam_threshold, self.cfg.minhash_num_perm)

    def screen(self, benchmarks: BenchmarkIndex):
        tasks = _tasks(self.cfg.ray.shards_per_source, len(ordered_sources(self.cfg)))
        return self._read(read_source_shard, tasks, index=Broadcast(benchmarks)).materialize()

    def resolve(self, screened) -> dict:
        bands = band_ranges(self.cfg.near_dup_threshold, self.cfg.minhash_num_perm)
        found = (screened.map_batches(shuffle_keys, batch_format="pyarrow", fn_kwargs={"bands": bands})
                 .groupby("key")
                 .map_groups(resolve_group, batch_format="pyarrow",
                             fn_kwargs={"threshold": self.cfg.near_dup_threshold}))
        resolution = Resolution()
        for batch in found.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=0):
            resolution.add_batch(batch)
        return resolution.decide()

    def label(self, screened, lost: Broadcast, classifier: ModalityClassifier):
        """Every row's outcome and file: plain tasks on CPUs; on GPUs an actor pool, each actor holding its device."""
        from ray.data import ActorPoolStrategy

        ray_cfg = self.cfg.ray
        kwargs = {"lost": lost, "classifier": Broadcast(classifier), "rows_per_file": self.cfg.rows_per_file}
        if not ray_cfg.classifier_num_gpus:
            return screened.map_batches(finish_batch, batch_format="pyarrow", num_cpus=ray_cfg.cpus_per_task,
                                        fn_kwargs=kwargs)
        return screened.map_batches(Finisher, batch_format="pyarrow", num_gpus=ray_cfg.classifier_num_gpus,
                                    compute=ActorPoolStrategy(size=ray_cfg.classifier_actors),
                                    fn_constructor_kwargs=kwargs)

    def finish(self, screened, lost: Broadcast) -> tuple[Counts, dict[str, Any]]:
        import pickle

        labelled = screened.map_batches(labelled_images, batch_format="pyarrow", fn_kwargs={"lost": lost})
        classifier = fit_classifier(self.cfg, labelled.iter_batches(batch_format="pyarrow", batch_size=1024,
                                                                    prefetch_batches=0))
        counts = Counts(images=KeySet())  # a million image keys, compactly
        with replaced_folder(self.repo / self.cfg.output_dir) as out, \
                replaced_folder(self.repo / self.cfg.rejected_dir) as rejected:
            summaries = (self.label(screened, lost, classifier)
                         .groupby("file")
                         .map_groups(write_file, batch_format="pyarrow",
                                     fn_kwargs={"dirs": {"curated": str(out), "rejected": str(rejected)}}))
            for batch in summaries.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=0):
                for summary in batch["summary"].to_pylist():  # one file's counts at a time
                    counts.add(pickle.loads(summary))
            if not any(f.startswith("rejected/") for f in counts.files):  # the table exists, empty
                write_parquet(rejected / "part-000-00000.parquet", [], REJECTED_SCHEMA)
            counts.inputs = self.inputs(counts.tallies)
            self.check_conservation(counts)  # before the folders replace the previous run's
        metrics = {"modality_classifier": classifier.metrics | {"labelled_by_classifier": counts.labelled_by_classifier}}
        return counts, metrics

    def write_shards(self, tasks: list[dict]) -> None:
        """The image store's shards, written by Ray tasks (each reads its images from the shared staging folder)."""
        import ray.data

        if not tasks:
            return
        written = ray.data.from_items(tasks).map(write_shard, num_cpus=self.cfg.ray.cpus_per_task).take_all()
        expected = sum(t["images"] for t in tasks)
        if sum(r["images"] for r in written) != expected or len(written) != len(tasks):
            raise AssertionError(f"image store: {len(written)} of {len(tasks)} shards reported "
                                 f"{sum(r['images'] for r in written)} of {expected} images")

    def inputs(self, tallies: dict) -> Counter:
        """Records per source, from every read task's count (all of a source's shards must have reported, and
        agree); an empty source still has its row, which the data checks fail."""
        inputs = Counter()
        for src in self.cfg.sources:
            found = {shard: n for (name, shard), n in tallies.items() if name == src.name}
            if set(found) != set(range(self.cfg.ray.shards_per_source)) or len(set(found.values())) != 1:
                raise AssertionError(f"source {src.name!r}: read tasks reported {found} "
                                     f"(expected one count from each of {self.cfg.ray.shards_per_source} shards)")
            inputs[src.name] = next(iter(found.values()))
        return inputs

    @staticmethod
    def check_conservation(counts: Counts) -> None:
        broken = {name: (n, counts.kept[name], counts.rejected[name]) for name, n in counts.inputs.items()
                  if n != counts.kept[name] + counts.rejected[name]}
        if broken:
            raise AssertionError(f"conservation violated (inputs, kept, rejected) per source: {broken}")
