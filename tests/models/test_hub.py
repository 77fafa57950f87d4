"""Hub ids resolve from a local Hugging Face cache with the hub offline; a missing one is one clear error."""

import shutil

import pytest
import torch

from credo.config import ModelConfig
from credo.models import ModelError, load_policy, resolve_model_dir

SHAPE = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


def cache_layout(root, repo_id, src, revisions):
    """The hub cache layout (models--org--name/{refs,snapshots}) with ``src``'s files under each commit."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    for ref, commit in revisions.items():
        snap = repo / "snapshots" / commit
        shutil.copytree(src, snap)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return repo


def test_hub_id_loads_from_the_local_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    src = resolve_model_dir(ModelConfig(**SHAPE))
    other = resolve_model_dir(ModelConfig(**SHAPE, init_seed=7))
    cache_layout(tmp_path / "hub", "credo-test/tiny", src, {"main": "a" * 40})
    cache_layout(tmp_path / "hub", "credo-test/tiny2", other, {"main": "b" * 40})
    shutil.copytree(other, tmp_path / "hub" / "models--credo-test--tiny" / "snapshots" / ("c" * 40))
    (tmp_path / "hub" / "models--credo-test--tiny" / "refs" / "v2").write_text("c" * 40)

    model, tok, path = load_policy(ModelConfig(path="credo-test/tiny"), "cpu")
    assert path.name == "a" * 40 and tok.decode(tok("12+3")["input_ids"], skip_special_tokens=True) == "12+3"
    ref, _, _ = load_policy(ModelConfig(**SHAPE), "cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))
    _, _, p2 = load_policy(ModelConfig(path="credo-test/tiny", revision="v2"), "cpu")
    assert p2.name == "c" * 40


def test_missing_hub_id_offline_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match="huggingface-cli download org/missing") as e:
        load_policy(ModelConfig(path="org/missing"), "cpu")
    assert "\n" not in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)


def test_a_local_directory_named_like_a_hub_id_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(resolve_model_dir(ModelConfig(**SHAPE)), tmp_path / "org" / "model")
    assert resolve_model_dir(ModelConfig(path="org/model")).resolve() == tmp_path / "org" / "model"
