"""Shared fixtures: a session-wide model cache so tests never touch ~/.cache or a hub."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


torch.set_num_threads(1)  # tiny models gain nothing from more threads, and one never oversubscribes shared cores


@pytest.fixture(scope="session", autouse=True)
def credo_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("credo-cache")
    old = os.environ.get("CREDO_CACHE")
    os.environ["CREDO_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CREDO_CACHE", None)
    else:
        os.environ["CREDO_CACHE"] = old


@pytest.fixture()
def tiny_policy():
    """(model, tokenizer) of a small embedded model (2 layers, hidden 64)."""
    from credo.config import ModelConfig
    from credo.models import load_policy

    torch.manual_seed(0)
    model, tok, _ = load_policy(ModelConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128))
    return model, tok
