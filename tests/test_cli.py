import pytest

from lingshu.cli import build_parser, main
from lingshu.data.schema import table_files


def test_help_explains_each_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["check-data", "--help"])
    assert exit_info.value.code == 0
    assert "Great Expectations" in capsys.readouterr().out


def test_params_lists_documented_fields(capsys):
    assert main(["params", "curate"]) == 0
    out = capsys.readouterr().out
    assert "curate.min_image_side" in out and "shorter side" in out
    assert "curate.modality.holdout_fraction" in out


def test_params_check_reports_every_problem_naming_its_key(tmp_path, capsys, repo):
    import yaml

    assert main(["params", "--check", "--params", str(repo / "params.yaml")]) == 0
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["curat"] = {}
    params["curate"]["near_dup_threshold"] = 7.0
    params["rl"] |= {"num_generations": 8, "per_device_train_batch_size": 12, "steps_per_generation": 1,
                     "gradient_accumulation_steps": 3, "init_from": "models/instruct"}
    del params["train"]["deep"]["lr"]["vision"], params["train"]["instruct"]["init_from"]
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    assert main(["params", "--check", "--params", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "'curat'" in err and "curate.near_dup_threshold" in err
    assert "rl.per_device_train_batch_size x steps_per_generation (12)" in err  # cross-field, once only at fit time
    assert "gradient_accumulation_steps" in err and "rl.init_from must name an earlier stage" in err
    assert "must set train.deep.lr.vision, train.instruct.init_from" in err  # every key without a default, at once


@pytest.mark.slow
def test_check_data_curate_writes_what_the_curate_stage_writes(tmp_path, repo, capsys):
    """`lingshu check-data --curate` runs the stage's own function: the plots come too (they once did not)."""
    import yaml

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["curate"] |= {"output_dir": str(tmp_path / "curated"), "image_store": str(tmp_path / "images"),
                         "rejected_dir": str(tmp_path / "rejected"), "metrics_file": str(tmp_path / "curate.json"),
                         "plots_dir": str(tmp_path / "plots")}
    params["validate"] |= {"results_dir": str(tmp_path / "validation"), "metrics_file": str(tmp_path / "validate.json")}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    assert main(["check-data", "--curate", "--params", str(path)]) == 0
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"distribution.png", "distribution.csv"}
    assert (tmp_path / "curate.json").exists() and table_files(tmp_path / "curated")
