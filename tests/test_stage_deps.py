"""Every stage of dvc.yaml depends on all the lingshu code its script can run, so no cache goes stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lingshu.imports import closure, uncovered

ROOT = Path(__file__).resolve().parents[1]


def _stages() -> dict[str, dict]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in spec.items()}


def _script(cmd: str) -> Path:
    scripts = [token for token in cmd.split() if token.endswith(".py")]
    assert len(scripts) == 1, f"expected one script in {cmd!r}"
    return ROOT / scripts[0]


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_deps_cover_every_module_its_script_imports(name):
    stage = _stages()[name]
    files = closure(_script(stage["cmd"]), ROOT)
    assert len(files) > 3  # the walk reached the library, not only the script
    missing = uncovered(files, stage["deps"], ROOT)
    assert missing == [], f"dvc.yaml stage {name!r} runs these but does not depend on them: {missing}"


def test_a_dep_taken_out_is_reported(tmp_path):
    stage = _stages()["evaluate"]
    files = closure(_script(stage["cmd"]), ROOT)
    assert uncovered(files, stage["deps"], ROOT) == []
    deps = [d for d in stage["deps"] if d not in ("lingshu/model", "lingshu/model/factory.py")]
    assert uncovered(files, deps, ROOT) == ["lingshu/model/factory.py"]


def test_function_level_and_relative_imports_are_followed(tmp_path):
    package = tmp_path / "lingshu"
    (package / "sub").mkdir(parents=True)
    for file in ("__init__.py", "sub/__init__.py", "sub/late.py", "sub/sibling.py", "top.py"):
        (package / file).write_text("")
    (package / "sub/first.py").write_text("def f():\n    from lingshu.sub import late\n    from . import sibling\n"
                                          "    from ..top import x\n")
    script = tmp_path / "run.py"
    script.write_text("import os\nfrom lingshu.sub.first import f\n")
    found = {str(p.relative_to(tmp_path.resolve())) for p in closure(script, tmp_path)}
    assert found == {"run.py", "lingshu/__init__.py", "lingshu/sub/__init__.py", "lingshu/sub/first.py",
                     "lingshu/sub/late.py", "lingshu/sub/sibling.py", "lingshu/top.py"}
