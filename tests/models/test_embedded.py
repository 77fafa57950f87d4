import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from credo.config import ModelConfig
from credo.models import ModelError, encode_prompt, load_policy, resolve_model_dir
from credo.models.embedded import build_embedded


def test_embedded_is_deterministic_and_reloads_with_plain_transformers(tmp_path):
    a = build_embedded(tmp_path / "a", seed=3, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    b = build_embedded(tmp_path / "b", seed=3, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    c = build_embedded(tmp_path / "c", seed=4, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    ma, mb, mc = (AutoModelForCausalLM.from_pretrained(p) for p in (a, b, c))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (ma, mb, mc))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    tok = AutoTokenizer.from_pretrained(a)
    ids = tok("12 + 7 = Answer: 19\n")["input_ids"]
    assert ids[0] == tok.bos_token_id and len(ids) == 1 + len("12 + 7 = Answer: 19\n")
    assert tok.decode(ids, skip_special_tokens=True) == "12 + 7 = Answer: 19\n"
    assert a.name == b.name  # cached by (seed, shape)


def test_default_shape_matches_the_speed_anchor():
    model, tok, _ = load_policy(ModelConfig())
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (128, 4, 4, 384)
    assert cfg.tie_word_embeddings and 90 <= len(tok) <= 110
    assert 0.8e6 < sum(p.numel() for p in model.parameters()) < 1e6


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="nope"):
        resolve_model_dir(ModelConfig(path=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="config.json"):
        resolve_model_dir(ModelConfig(path=str(tmp_path / "empty")))


def test_encode_prompt_without_chat_template(tiny_policy):
    _, tok = tiny_policy
    assert encode_prompt(tok, "hi") == [tok.bos_token_id] + tok("hi", add_special_tokens=False)["input_ids"]
