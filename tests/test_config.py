
import pytest

from lingshu.config import SECTIONS, ConfigError, field_help, load_params, load_section
from lingshu.config import ModalityConfig, SourceConfig


def test_params_yaml_and_every_experiment_load(repo):
    params = load_params(repo / "params.yaml")
    assert params["curate"].decontaminate == "drop"
    experiments = sorted((repo / "experiments").glob("*.yaml"))
    assert experiments, "experiments/ declares at least one variant"
    for path in experiments:
        load_params(repo / "params.yaml", overlay=path)


def test_unknown_key_is_an_error_naming_it(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("curate:\n  min_image_sid: 10\n")
    with pytest.raises(ConfigError, match="min_image_sid"):
        load_section("curate", path)


def test_unknown_section_is_an_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("curat:\n  min_image_side: 10\n")
    with pytest.raises(ConfigError, match="curat"):
        load_params(path)


def test_a_stage_loading_its_section_refuses_a_misspelt_one_beside_it(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("curat:\n  min_image_side: 10\nvalidate: {}\n")
    with pytest.raises(ConfigError, match="curat"):
        load_section("validate", path)


@pytest.mark.parametrize("section, body, named", [
    ("curate", "near_dup_threshold: 7.0", "curate.near_dup_threshold"),
    ("curate", "min_image_side: -5", "curate.min_image_side"),
    ("curate", "decontaminate: keep", "curate.decontaminate"),
    ("curate", "caption_min_tokens: 50\n  caption_max_tokens: 20", "curate.caption_min_tokens"),
    ("rl", "num_generations: 1", "rl.num_generations"),
])
def test_out_of_range_values_fail_when_params_are_loaded(repo, tmp_path, section, body, named):
    path = tmp_path / "variant.yaml"
    path.write_text(f"{section}:\n  {body}\n")
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_params(repo / "params.yaml", overlay=path)


def test_wrong_type_is_an_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("curate:\n  min_image_side: big\n")
    with pytest.raises(ConfigError, match="min_image_side"):
        load_section("curate", path)


def test_overrides_apply_on_top(repo):
    cfg = load_section("curate", repo / "params.yaml", ["min_image_side=128", "modality.seed=3"])
    assert cfg.min_image_side == 128 and cfg.modality.seed == 3
    assert isinstance(cfg.sources[0], SourceConfig)


@pytest.mark.parametrize("schema", [*SECTIONS.values(), SourceConfig, ModalityConfig])
def test_every_field_is_documented(schema):
    undocumented = [name for name, text in field_help(schema).items() if len(text) < 10]
    assert not undocumented, f"{schema.__name__} fields without help: {undocumented}"


def test_rl_settings_of_params_and_every_experiment_fit_together(repo):
    """A rollout must hold whole prompt groups and end on an optimiser step; the declared recipes must too."""
    for overlay in [None, *sorted((repo / "experiments").glob("*.yaml"))]:
        params = load_params(repo / "params.yaml", overlay)
        if "rl" in params:
            params["rl"].check()


def test_rl_settings_that_cannot_work_together_are_named():
    from lingshu.rl.config import RLConfig

    with pytest.raises(ValueError, match="multiple of num_generations"):
        RLConfig(num_generations=3, per_device_train_batch_size=16).check()
    with pytest.raises(ValueError, match="loss_type"):
        RLConfig(loss_type="ppo").check()


def _default_mismatches(schema: type, shipped: dict, prefix: str) -> list[str]:
    """Fields of `schema` whose default differs from the value params.yaml ships (nested sections recursed)."""
    from dataclasses import MISSING, asdict, fields, is_dataclass
    from typing import get_type_hints

    hints, found = get_type_hints(schema), []
    for f in fields(schema):
        if f.name not in shipped:
            continue
        key, value = f"{prefix}{f.name}", shipped[f.name]
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if is_dataclass(hints[f.name]):
            if default is not MISSING:  # a sub-section built by its own factory: compare the whole of it
                found += [f"{key}.{k}" for k, v in value.items() if asdict(default).get(k) != v]
            found += _default_mismatches(hints[f.name], value, f"{key}.")
        elif default is not MISSING and default != value:
            found.append(f"{key}: default {default!r}, params.yaml {value!r}")
    return found


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_default_is_the_shipped_value_or_there_is_none(repo, section):
    """A params file that leaves a key out gets what params.yaml ships, never a silently different value."""
    import yaml

    shipped = yaml.safe_load((repo / "params.yaml").read_text())[section]
    assert _default_mismatches(SECTIONS[section], shipped, f"{section}.") == []


def test_required_keys_left_out_are_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  common: {}\n")
    with pytest.raises(ConfigError, match="shallow"):
        load_section("train", path)


@pytest.mark.parametrize("key, value, named", [
    ("train.deep.init_from", "models/shallow", "a stage name, not a path"),
    ("train.shallow.init_from", "deep", "one of base; got 'deep'"),
    ("train.instruct.init_from", "instruct", "one of base, shallow, deep; got 'instruct'"),
    ("rl.init_from", "rl", "one of base, shallow, deep, instruct; got 'rl'"),
])
def test_a_stage_must_start_from_an_earlier_stage_named_by_its_stage(repo, key, value, named):
    section, rest = key.split(".", 1)
    with pytest.raises(ConfigError, match=rf"{key.replace('.', chr(92) + '.')} must name an earlier stage.*{named}"):
        load_section(section, repo / "params.yaml", [f"{rest}={value}"])
    assert load_section("train", repo / "params.yaml", ["instruct.init_from=base"]).instruct.init_from == "base"


@pytest.mark.parametrize("override, named", [
    ("instruct.lr.vision=0.5", "train.instruct.lr"),
    ("deep.batch_size=0", "train.deep.batch_size"),
    ("shallow.max_length=16", "train.shallow.max_length"),
])
def test_training_schedules_that_cannot_run_fail_on_load(repo, override, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_section("train", repo / "params.yaml", [override])


@pytest.mark.parametrize("override, named", [
    ("checkpoints=[base,instruct,deep,rl]", "must be in pipeline order"),
    ("checkpoints=[base,final,instruct,rl]", "each must be one of base, shallow"),
    ("checkpoints=[base,shallow,deep]", "baseline and compare must be among checkpoints"),
])
def test_report_checkpoints_follow_the_chain(repo, override, named):
    with pytest.raises(ConfigError, match=f"report\\.checkpoints.*{named}|report\\.{named}"):
        load_section("report", repo / "params.yaml", [override])
