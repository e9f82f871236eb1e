"""Typed, documented configuration for every stage, loaded from params.yaml with OmegaConf.

Each stage reads one section of params.yaml into a dataclass. OmegaConf's structured mode makes an
unknown or misspelt key an error that names the key, so a typo in params.yaml or in
`dvc exp run -S` never silently falls back to a default. Every field carries its help text in
`metadata["help"]`, which is what `lingshu params --help`-style tooling and the README draw on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lingshu.fields import doc, required

T = TypeVar("T")
DECONTAMINATE = ("drop", "report")  # curate.decontaminate


@dataclass
class SourceConfig:
    """One input dataset: where it is, which loader reads it and how its records are labelled."""

    name: str = doc("", "Unique source name; used in sample ids, provenance and the dedup priority list.")
    format: str = doc("", "Loader to read it with (see lingshu.data.sources.LOADERS).")
    path: str = doc("", "File or folder relative to the repo root (or a Hugging Face dataset name for format hf_dataset).")
    group: str = doc("", "Data group of its samples (medical_multimodal, general_multimodal, medical_text, ...).")
    licence: str = doc("", "Licence of the source; a per-record licence from the data wins where the format has one.")
    split: str = doc("train", "Split given to records whose format has no split of its own.")
    options: dict = doc({}, "Loader-specific options (e.g. count and seed for generators, image_dir for VQA-RAD).")


@dataclass
class ModalityConfig:
    """The fallback modality classifier for images whose metadata names no modality."""

    holdout_fraction: float = doc(0.25, "Fraction of labelled images held out to measure the classifier's accuracy.")
    seed: int = doc(0, "Seed of the held-out split and the classifier.")
    thumbnail: int = doc(32, "Side of the grayscale thumbnail used as the classifier's features.")


@dataclass
class RayConfig:
    """Where curation runs and how wide: settings that spread the work, never change what is kept."""

    num_cpus: int = doc(2, "CPUs of the local Ray the stage starts when RAY_ADDRESS is unset (0: all of this "
                           "machine's); with RAY_ADDRESS set the cluster's own resources count.")
    cpus_per_task: float = doc(1.0, "CPUs each read-and-screen task (loader, de-identification, images, MinHashes) "
                                    "reserves.")
    shards_per_source: int = doc(2, "Read tasks per source: each reads the source's records and screens those of "
                                    "its shard (records about one image share a shard, so it is decoded once).")
    classifier_actors: int = doc(1, "Actors that label modalities with the fitted classifier when it runs on GPUs "
                                    "(on CPUs plain tasks label, without an actor pool's start-up).")
    classifier_num_gpus: float = doc(0.0, "GPUs each classifier actor reserves (0: CPU, plain tasks).")
    temp_folder: str = doc("/tmp/ray", "Session folder of the local Ray (logs, object spilling), outside the repo and never "
                                        "in the home folder.")
    dashboard: bool = doc(False, "Start the Ray dashboard with the local Ray (127.0.0.1 only).")
    log_to_driver: bool = doc(False, "Forward the Ray workers' output to the stage's log.")

    def problems(self) -> list[str]:
        out = [f"{name} must be at least {low}, got {value}" for name, value, low in
               (("num_cpus", self.num_cpus, 0), ("shards_per_source", self.shards_per_source, 1),
                ("classifier_actors", self.classifier_actors, 1), ("classifier_num_gpus", self.classifier_num_gpus, 0))
               if value < low]
        if self.cpus_per_task <= 0:
            out.append(f"cpus_per_task must be positive, got {self.cpus_per_task}")
        return out


@dataclass(kw_only=True)
class CurateConfig:
    """Filters, dedup, decontamination and labelling applied by the `curate` stage (recipe defaults)."""

    sources: list[SourceConfig] = required("Training sources, in any order (priority decides near-duplicate winners).")
    benchmarks: list[str] = required("Evaluation benchmarks whose items must not leak into training, by name or "
                                     "group (lingshu/eval/benchmarks/*.yaml, as `lingshu eval --benchmarks` takes "
                                     "them; [] for none): each read as the evaluation reads it, from its YAML's path: "
                                     "and split:.")
    source_priority: list[str] = required("Source names from most to least reliable; near-duplicates keep the copy "
                                          "from the earliest.")
    output_dir: str = doc("data/curated", "Where the curated Parquet tables go (a folder of shards per data group).")
    image_store: str = doc("data/images", "Content-addressed image store: Parquet shards of (key, image), a key "
                                          "being <sha256>.<ext> (lingshu/data/store.py).")
    images_per_shard: int = doc(1000, "About how many images one shard of the image store holds (the number of "
                                      "shards is a power of 16; benchmarks/README.md measured shards of 1000).")
    rejected_dir: str = doc("data/rejected", "Where one record per dropped sample, with its reason, goes.")
    metrics_file: str = doc("metrics/curate.json", "Stage metrics (conservation, counts per reason).")
    plots_dir: str = doc("plots/curate", "DVC plots: group/modality distributions.")
    min_image_side: int = doc(64, "Drop images whose shorter side is below this many pixels (recipe: 64).")
    max_image_pixels: int = doc(80_000_000, "Images declaring more pixels than this are rejected as decompression bombs.")
    caption_min_tokens: int = doc(10, "Caption samples shorter than this are dropped (recipe: 10).")
    caption_max_tokens: int = doc(1024, "Caption samples longer than this are dropped (recipe: 1024).")
    max_text_chars: int = doc(200_000, "Records with a turn longer than this many characters are rejected "
                                       "(text_too_long) before de-identification and hashing, whose memory grows "
                                       "with the text.")
    jpeg_draft: bool = doc(False, "Decode JPEGs at reduced scale for pHash: ~7x faster, but it misses some re-encoded duplicates.")
    minhash_num_perm: int = doc(128, "MinHash permutations for near-duplicate and decontamination text matching.")
    near_dup_threshold: float = doc(0.85, "Estimated Jaccard similarity above which two instruction texts are near-duplicates.")
    decontaminate: str = doc("drop", "drop: remove training samples overlapping a benchmark test split; report: keep and count them.")
    decontam_threshold: float = doc(0.9, "Estimated Jaccard similarity above which a question matches a benchmark question.")
    deidentify: bool = doc(True, "Replace names, dates, record numbers, phone numbers and e-mails in free text.")
    rows_per_file: int = doc(10_000, "Rows per Parquet shard of the curated and rejected tables "
                                     "(<group>/part-<source rank>-<chunk>.parquet); a shard never mixes sources. A "
                                     "writer holds its shards' rows (a few shards when they share a shuffle "
                                     "partition), so this bounds the writers' memory.")
    ray: RayConfig = field(default_factory=RayConfig,
                           metadata={"help": "Where and how wide curation runs on Ray (never what it keeps)."})
    modality: ModalityConfig = field(
        default_factory=ModalityConfig, metadata={"help": "Fallback modality classifier settings."}
    )

    def problems(self) -> list[str]:
        """Values that would fail (or silently do nothing) an hour into curation, named by field."""
        out = [f"{name} must be in (0, 1], got {value}" for name, value in
               (("near_dup_threshold", self.near_dup_threshold), ("decontam_threshold", self.decontam_threshold))
               if not 0 < value <= 1]
        out += [f"{name} must be at least 1, got {value}" for name, value in
                (("min_image_side", self.min_image_side), ("max_image_pixels", self.max_image_pixels),
                 ("max_text_chars", self.max_text_chars),
                 ("minhash_num_perm", self.minhash_num_perm), ("rows_per_file", self.rows_per_file),
                 ("images_per_shard", self.images_per_shard)) if value < 1]
        if self.caption_min_tokens > self.caption_max_tokens:
            out.append(f"caption_min_tokens ({self.caption_min_tokens}) exceeds caption_max_tokens ({self.caption_max_tokens})")
        if self.decontaminate not in DECONTAMINATE:
            out.append(f"decontaminate must be one of {', '.join(DECONTAMINATE)}, got {self.decontaminate!r}")
        return out


@dataclass
class ValidateConfig:
    """The Great Expectations gate run by the `validate` stage and by `lingshu check-data`."""

    suites_dir: str = doc("data_checks", "Folder of expectation suites (one JSON file per table).")
    results_dir: str = doc("reports/validation", "Where each suite's JSON and HTML result goes.")
    metrics_file: str = doc("metrics/validate.json", "Stage metrics (expectations evaluated / failed per suite).")
    synthetic_results_dir: str = doc("reports/validation_synthetic", "Results of the suites on the synthetic tables.")
    synthetic_metrics_file: str = doc("metrics/validate_synthetic.json", "Metrics of the synthetic-table validation.")
    max_examples: int = doc(5, "Example failing rows quoted per failed expectation.")


@dataclass
class TrackingConfig:
    """MLflow settings shared by all stages."""

    experiment: str = doc("lingshu", "MLflow experiment the stage runs are logged under.")
    tracking_uri: str = doc("", "Tracking URI; empty means $MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db.")
    artifact_dir: str = doc("mlartifacts", "Artifact root for a local sqlite store (relative to the repo root).")


from lingshu.eval.config import EvalConfig  # noqa: E402
from lingshu.model.config import ModelConfig  # noqa: E402  (they import lingshu.fields, not this module)
from lingshu.report.config import ReportConfig  # noqa: E402
from lingshu.rl.config import RLConfig  # noqa: E402
from lingshu.synth.config import SynthesizeConfig  # noqa: E402
from lingshu.train.config import TrainConfig  # noqa: E402

SECTIONS: dict[str, type] = {
    "tracking": TrackingConfig,
    "curate": CurateConfig,
    "validate": ValidateConfig,
    "synthesize": SynthesizeConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "rl": RLConfig,
    "eval": EvalConfig,
    "report": ReportConfig,
}


class ConfigError(ValueError):
    """params.yaml (or an override) does not fit the documented dataclass."""


def load_section(section: str, params_file: str | Path = "params.yaml", overrides: list[str] | None = None) -> Any:
    """Load one section of params.yaml into its dataclass, applying `a.b=c` overrides on top.

    Unknown keys and wrongly typed values raise ConfigError naming the file and the key.
    """
    params_file = Path(params_file)
    raw = OmegaConf.load(params_file) if params_file.exists() else OmegaConf.create({})
    unknown = unknown_sections(raw, params_file)
    if unknown:  # a misspelt section (`curat:`) would otherwise leave its stage on the defaults
        raise ConfigError(unknown)
    return build_section(section, raw.get(section, {}), str(params_file), overrides)


def unknown_sections(raw: Any, params_file: Path) -> str:
    """The error naming a params file's unknown top-level sections, or '' when there are none."""
    unknown = sorted(set(raw.keys()) - set(SECTIONS))
    return f"{params_file}: unknown top-level section(s) {unknown}; known: {sorted(SECTIONS)}" if unknown else ""


def build_section(section: str, values: Any, source: str, overrides: list[str] | None = None) -> Any:
    """One section's dataclass from its raw values (a mapping as read from a params file named `source`)."""
    schema = SECTIONS.get(section)
    if schema is None:
        raise ConfigError(f"unknown params section {section!r}; known: {', '.join(SECTIONS)}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values or {})
        if overrides:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        missing = sorted(OmegaConf.missing_keys(merged))
        if missing:  # keys with no default: every one named at once, not the first OmegaConf trips on
            raise ConfigError(f"{source}: section {section!r} must set {', '.join(f'{section}.{k}' for k in missing)} "
                              f"(no default: see `lingshu params {section}`)")
        loaded = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{source}: section {section!r}: {exc}") from exc
    found = problems_of(loaded, f"{section}.")
    if found:
        raise ConfigError(f"{source}: " + "; ".join(found))
    return loaded


def problems_of(config: Any, prefix: str) -> list[str]:
    """Every `problems()` of a config dataclass and of the dataclasses inside it, each prefixed with its
    dotted place, so that a bad value fails when params are loaded, before any work starts."""
    if not is_dataclass(config):
        return []
    own = config.problems() if hasattr(config, "problems") else []
    found = [f"{prefix}{p}" for p in own]
    for f in fields(config):
        value = getattr(config, f.name)
        for i, item in enumerate(value) if isinstance(value, list) else [(None, value)]:
            found += problems_of(item, f"{prefix}{f.name}{'' if i is None else f'.{i}'}.")
    return found


def load_params(params_file: str | Path = "params.yaml", overlay: str | Path | None = None) -> dict[str, Any]:
    """Every known section of params.yaml, validated; unknown top-level sections are errors too.

    With `overlay` (a partial params file such as experiments/*.yaml, which `dvc exp run -S` applies on top
    of params.yaml), the sections the overlay names, as they are after it is applied.
    """
    params_file = Path(params_file)
    if overlay is None:
        return {name: load_section(name, params_file) for name in OmegaConf.load(params_file).keys()}
    base, changes = OmegaConf.load(params_file), OmegaConf.load(overlay)
    unknown = unknown_sections(changes, Path(overlay))
    if unknown:
        raise ConfigError(unknown)
    return {name: build_section(name, OmegaConf.merge(base.get(name, {}), changes[name]), str(overlay))
            for name in changes.keys()}


def check_params(params_file: str | Path = "params.yaml") -> list[str]:
    """Every problem of a params file at once (unknown sections, unknown keys, types, out-of-range and
    cross-field values, each naming its key), for `lingshu params --check` before anything runs."""
    params_file = Path(params_file)
    raw = OmegaConf.load(params_file)
    found = [unknown] if (unknown := unknown_sections(raw, params_file)) else []
    for name in (n for n in raw.keys() if n in SECTIONS):
        try:
            build_section(name, raw.get(name), str(params_file))
        except ConfigError as exc:
            found.append(str(exc))
    return found


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> scalar view of a config dataclass, as logged to MLflow params."""
    out: dict[str, Any] = {}
    if is_dataclass(obj):
        items = ((f.name, getattr(obj, f.name)) for f in fields(obj))
    elif isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return {prefix.rstrip("."): obj}
    for key, value in items:
        name = f"{prefix}{key}"
        if is_dataclass(value) or isinstance(value, (dict, list)):
            nested = flatten(value, name + ".")
            out.update(nested if nested else {name: str(value)})
        else:
            out[name] = value
    return out


def field_help(schema: type) -> dict[str, str]:
    """Field name -> help text of a config dataclass (used by tests to insist that every field is documented)."""
    return {f.name: f.metadata.get("help", "") for f in fields(schema)}
