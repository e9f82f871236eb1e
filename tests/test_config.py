
import pytest

from lingshu.config import SECTIONS, ConfigError, field_help, load_params, load_section
from lingshu.config import ModalityConfig, SourceConfig


def test_params_yaml_and_every_experiment_load(repo):
    params = load_params(repo / "params.yaml")
    assert params["curate"].decontaminate == "drop"
    experiments = sorted((repo / "experiments").glob("*.yaml"))
    assert experiments, "experiments/ declares at least one variant"
    for path in experiments:
        load_params(path)


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
def test_out_of_range_values_fail_when_params_are_loaded(tmp_path, section, body, named):
    path = tmp_path / "params.yaml"
    path.write_text(f"{section}:\n  {body}\n")
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_section(section, path)


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
    for path in [repo / "params.yaml", *sorted((repo / "experiments").glob("*.yaml"))]:
        params = load_params(path)
        if "rl" in params:
            params["rl"].check()


def test_rl_settings_that_cannot_work_together_are_named():
    from lingshu.rl.config import RLConfig

    with pytest.raises(ValueError, match="multiple of num_generations"):
        RLConfig(num_generations=3, per_device_train_batch_size=16).check()
    with pytest.raises(ValueError, match="loss_type"):
        RLConfig(loss_type="ppo").check()
