import pytest

from lingshu.cli import build_parser, main


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
