"""Guided logits against the formula on a toy vocabulary; temperature normalisation; multi-ARM product;
weak-to-strong vocabularies; the incremental ARM cache through the HF engine."""

import json
import math
from types import SimpleNamespace

import pytest
import torch

from credo.arm.guide import GuidedLogits, GuideTerm


class ToyLM(torch.nn.Module):
    """Next-token distribution = a fixed row per last token (a 4-token vocabulary)."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.log(torch.tensor(table))
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.config = None

    def forward(self, input_ids, **kw):
        return SimpleNamespace(logits=self.table[input_ids], past_key_values=None)


P = [[0.5, 0.25, 0.25, 1e-9]] * 4  # base
Q = [[0.25, 0.25, 0.5, 1e-9]] * 4  # ARM
R = [[0.1, 0.6, 0.2, 0.1]] * 4  # a second ARM


def test_guided_logits_equal_the_formula_on_a_toy_vocabulary():
    ids = torch.tensor([[0, 2], [1, 3]])
    base = torch.log(torch.tensor(P)[[2, 3]]) + 7.0  # unnormalised logits: log-softmax removes the shift
    got = GuidedLogits([GuideTerm(ToyLM(Q), None, 2.0)], pad_id=0, normalize=False)(ids, base)
    want = [math.log(p) + 2.0 * math.log(q) for p, q in zip(P[0][:3], Q[0][:3])]
    torch.testing.assert_close(got[0, :3], torch.tensor(want), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1, :3], torch.tensor(want), atol=1e-5, rtol=1e-5)


def test_temperature_normalisation_gives_the_geometric_mixture():
    ids = torch.tensor([[1, 2]])
    base = torch.log(torch.tensor(P)[[0]])
    out = GuidedLogits([GuideTerm(ToyLM(Q), None, 1.0)], pad_id=0, normalize=True)(ids, base)
    raw = GuidedLogits([GuideTerm(ToyLM(Q), None, 1.0)], pad_id=0, normalize=False)(ids, base)
    torch.testing.assert_close(out, raw / 2.0)
    # α = 1: softmax ∝ sqrt(p q) = (0.35355, 0.25, 0.35355) / 0.95711
    probs = torch.softmax(out, -1)[0, :3]
    torch.testing.assert_close(probs, torch.tensor([0.36940, 0.26120, 0.36940]), atol=1e-4, rtol=0)


def test_multi_arm_product_weights_each_arm():
    ids = torch.tensor([[1, 2]])
    base = torch.log(torch.tensor(P)[[0]])
    proc = GuidedLogits([GuideTerm(ToyLM(Q), None, 0.3), GuideTerm(ToyLM(R), None, 0.7)], pad_id=0)
    got = proc(ids, base)[0, :3]
    want = [(math.log(p) + 0.3 * math.log(q) + 0.7 * math.log(r)) / 2.0 for p, q, r in zip(P[0], Q[0], R[0])]
    torch.testing.assert_close(got, torch.tensor(want[:3]), atol=1e-5, rtol=1e-5)


def test_weak_to_strong_masks_ids_beyond_the_arm_vocabulary():
    arm = ToyLM([[0.5, 0.3, 0.2]] * 6)  # 3-token ARM guiding a 5-token base
    base = torch.zeros(1, 5)
    got = GuidedLogits([GuideTerm(arm, None, 1.0)], pad_id=0, normalize=False)(torch.tensor([[1, 2]]), base)
    assert torch.isinf(got[0, 3:]).all()
    torch.testing.assert_close(got[0, :3], torch.log(torch.tensor([0.5, 0.3, 0.2])) + math.log(0.2))


def test_incremental_cache_matches_recomputation_through_the_engine():
    from credo.arm.generate import guided_generate
    from credo.config import ModelConfig
    from credo.models import load_policy

    torch.manual_seed(0)
    base, tok, _ = load_policy(ModelConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128))
    arm, _, _ = load_policy(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, init_seed=3))
    base.eval()
    arm.eval()
    seen = []

    class Check:
        def __init__(self):
            self.proc = GuidedLogits([GuideTerm(arm, None, 1.5)], tok.pad_token_id)

        def __call__(self, ids, logits):
            out = self.proc(ids, logits)
            fresh = GuidedLogits([GuideTerm(arm, None, 1.5)], tok.pad_token_id)(ids, logits)
            torch.testing.assert_close(out, fresh, atol=1e-4, rtol=1e-4)
            seen.append(ids.shape)
            return out

    prompts = [tok("ab")["input_ids"], tok("hello")["input_ids"]]
    trajs, tps = guided_generate(base, tok, prompts, 3, 6, processors=[Check()])
    assert len(trajs) == 6 and tps > 0
    assert seen[0] == (6, 6) and len(seen) >= 2  # prompts left-padded to 6 tokens, repeated 3 times


def test_engine_applies_processors_to_every_step():
    from credo.arm.generate import guided_generate
    from credo.config import ModelConfig
    from credo.models import load_policy

    model, tok, _ = load_policy(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64))
    target = tok("z", add_special_tokens=False)["input_ids"][0]
    calls = []

    def only_z(ids, logits):
        calls.append(ids[:, -1].tolist())
        out = torch.full_like(logits, float("-inf"))
        out[:, target] = 0.0
        return out

    trajs, _ = guided_generate(model, tok, [tok("a")["input_ids"]], 2, 4, processors=[only_z])
    assert all(t.response_ids.tolist() == [target] * 4 for t in trajs)
    assert calls[1:] == [[target, target]] * 3  # from step 2 on the processor sees the generated tokens


def test_shared_vocabulary_check_names_a_mismatch():
    from credo.arm.generate import check_shared_vocab
    from credo.arm.model import ArmError

    a = SimpleNamespace(get_vocab=lambda: {"a": 0, "b": 1, "c": 2})
    check_shared_vocab(a, SimpleNamespace(get_vocab=lambda: {"a": 0, "b": 1, "c": 2, "d": 3}), "arm")  # a prefix
    with pytest.raises(ArmError, match="id 1"):
        check_shared_vocab(a, SimpleNamespace(get_vocab=lambda: {"a": 0, "c": 1, "b": 2}), "arm")


def test_weak_to_strong_through_cli(tmp_path, capsys):
    """An ARM on a 1-layer hidden-32 model guides a 2-layer hidden-64 model with the same tokenizer."""
    from credo.cli import main

    small = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64"]
    common = ["data.size=32", "data.eval_size=8", "train.batch_size=8", "train.steps=2", "train.device=cpu",
              "decode.max_new_tokens=3", "eval.grid=0"]
    assert main(["arm", "train", "recipes/uniarm.yaml", *small, *common, f"log.output_dir={tmp_path}"]) == 0
    capsys.readouterr()
    assert main(["arm", "generate", "recipes/uniarm.yaml", *common, "--arm", str(tmp_path / "arm"), "--pref", "1,0",
                 "--prompt", "topic A:"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[0])["prompt"] == "topic A:" and json.loads(out[-1])["tokens_per_s"] > 0
