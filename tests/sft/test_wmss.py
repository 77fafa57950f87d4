import json
import math
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM

from credo.cli import main
from credo.config import load_config, recipe_path
from credo.sft.trainer import padded_batch, sft_loss
from credo.sft.wmss import (
    answer_positions,
    cached_entropy,
    mix_logits,
    sample_entropy,
    saturation_stats,
    token_entropy,
    wdds_resample,
    wdds_weights,
    wmss_loss,
)
from credo.sft.wmss_trainer import WMSSTrainer
from credo.train.metrics import read_metrics

LN2 = math.log(2)


class BigramLM(torch.nn.Module):
    """Next-token logits depend only on the current token: logits[b, t] = table[input_ids[b, t]]."""

    def __init__(self, probs: list[list[float]]):
        super().__init__()
        self.table = torch.nn.Parameter(torch.tensor(probs).log())

    def forward(self, input_ids, attention_mask=None, **kw):
        return SimpleNamespace(logits=self.table[input_ids])


HAND = [[0.25, 0.25, 0.25, 0.25],  # H = ln 4 = 2 ln 2
        [0.5, 0.25, 0.125, 0.125]]  # H = 0.5 ln2 + 0.25·2 ln2 + 2·0.125·3 ln2 = 1.75 ln 2


def test_token_entropy_on_hand_distributions():
    h = token_entropy(torch.tensor(HAND).log())
    assert torch.allclose(h, torch.tensor([2 * LN2, 1.75 * LN2]), atol=1e-6)


def test_sample_entropy_is_the_mean_over_answer_tokens_and_is_cached(tmp_path):
    lm = BigramLM(HAND + [[0.7, 0.1, 0.1, 0.1]] * 2)
    # example 0: prompt [0], answer [1, 2] -> predicted from tokens 0 and 1: (2 + 1.75) / 2 ln 2
    # example 1: prompt [1], answer [3] -> predicted from token 1: 1.75 ln 2 (padded batch, pad id 2)
    ex = [([0], [1, 2]), ([1], [3])]
    want = torch.tensor([1.875 * LN2, 1.75 * LN2])
    assert torch.allclose(sample_entropy(lm, ex, pad_id=2, batch_size=1), want, atol=1e-6)
    assert torch.allclose(cached_entropy(lm, ex, 2, tmp_path), want, atol=1e-6)
    assert len(list(tmp_path.glob("entropy-*.pt"))) == 1
    with torch.no_grad():
        lm.table[2, 0] += 1.0  # unused row: value unchanged, but new weights -> a new cache entry
    cached_entropy(lm, ex, 2, tmp_path)
    assert len(list(tmp_path.glob("entropy-*.pt"))) == 2


def test_wdds_weights_on_hand_values():
    h0, h1 = torch.tensor([1.0, 2.0, 3.0, 2.0]), torch.tensor([0.5, 2.0, 1.0, 3.0])
    # norm(H0) = [.125, .25, .375, .25]; norm(relu(H0-H1)) = [.2, 0, .8, 0]; norm(relu(H1-H0)) = [0, 0, 0, 1]
    want = torch.tensor([0.1 * 0.125 + 0.8 * 0.2, 0.1 * 0.25, 0.1 * 0.375 + 0.8 * 0.8, 0.1 * 0.25 + 0.1 * 1.0])
    assert torch.allclose(wdds_weights(h0, h1).float(), want, atol=1e-7)
    same = wdds_weights(h0, h0, 0.2, 0.7, 0.1)  # no entropy change: only the difficulty term is left
    assert torch.allclose(same.float(), h0 / h0.sum())
    with pytest.raises(ValueError, match="alpha/beta/gamma"):
        wdds_weights(h0, h1, -0.1, 0.8, 0.1)


def test_wdds_resample_is_seeded_with_replacement_and_follows_p():
    p = torch.tensor([0.1725, 0.025, 0.6775, 0.125])
    a, b = wdds_resample(p, 20000, seed=42), wdds_resample(p, 20000, seed=42)
    assert a == b and a != wdds_resample(p, 20000, seed=43) and len(a) == 20000
    freq = torch.bincount(torch.tensor(a), minlength=4).float() / len(a)
    assert torch.allclose(freq, p, atol=0.015)


def test_mixture_gradient_on_strong_logits_is_lam_times_pmix_minus_onehot():
    g = torch.Generator().manual_seed(0)
    z_w = torch.randn(5, 7, generator=g, requires_grad=True)
    z_s = torch.randn(5, 7, generator=g, requires_grad=True)
    y, lam = torch.tensor([0, 3, 6, 2, 2]), 0.3
    logits_w, logits_s = z_w[None], z_s[None]  # as [B=1, L=5, V] model outputs; labels shifted by one below
    labels = torch.cat([torch.tensor([-100]), y])[None]
    pad = torch.zeros(1, 1, 7)
    weak = SimpleNamespace(logits=torch.cat([logits_w, pad], 1))
    strong = SimpleNamespace(logits=torch.cat([logits_s, pad], 1))
    zw, target = answer_positions(weak.logits, labels)
    zs, _ = answer_positions(strong.logits, labels)
    torch.nn.functional.cross_entropy(mix_logits(zw, zs, lam), target, reduction="sum").backward()
    p_mix = torch.softmax((1 - lam) * z_w.detach() + lam * z_s.detach(), -1)
    onehot = torch.nn.functional.one_hot(y, 7).float()
    assert torch.allclose(z_s.grad, lam * (p_mix - onehot), atol=1e-6)
    assert torch.allclose(z_w.grad, (1 - lam) * (p_mix - onehot), atol=1e-6)


def test_saturation_stats_on_hand_values():
    z_s = torch.tensor([[2.0, 0.0, 1.0]])
    s = saturation_stats(z_s, torch.tensor([[0.7, 0.2, 0.1]]), torch.tensor([0]), scale=0.5)
    assert s["margin"] == pytest.approx(2.0 - 0.5)  # target logit minus mean of (0, 1)
    assert s["nontarget_grad_mass"] == pytest.approx(0.5 * 0.3)
    assert s["p_target"] == pytest.approx(math.exp(2) / (math.exp(2) + 1 + math.exp(1)))


def test_frozen_weak_gets_no_gradient_and_trainable_weak_does(tiny_policy):
    strong, tok = tiny_policy
    weak = AutoModelForCausalLM.from_config(strong.config)
    batch = padded_batch([([5, 6, 7], [8, 9]), ([5, 6], [10])], tok.pad_token_id)
    loss, n, stats = wmss_loss(weak, strong, batch, 0.5, freeze_weak=True)
    loss.backward()
    assert n == 3 and all(p.grad is None for p in weak.parameters())
    assert any(p.grad is not None for p in strong.parameters()) and stats["margin"] == stats["margin"]
    wmss_loss(weak, strong, batch, 0.5)[0].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in weak.parameters())


def test_lam_one_is_plain_sft(tiny_policy):
    strong, tok = tiny_policy
    batch = padded_batch([([5, 6, 7], [8, 9]), ([5, 6], [10])], tok.pad_token_id)
    mixed, n, _ = wmss_loss(None, strong, batch, 1.0)  # no weak model is touched
    plain, m = sft_loss(strong, batch)
    assert n == m == 3 and torch.allclose(mixed, plain)


def _cfg(out, **extra):
    over = ["model.hidden_size=64", "model.num_layers=2", "model.intermediate_size=128", "task.size=64",
            "task.eval_size=16", "eval.size=16", "sft.size=64", "sft.steps=30", "sft.batch_size=16", "wmss.steps=6",
            "log.save_every=2", "log.tensorboard=false", f"log.output_dir={out}",
            "wmss.entropy_cache=" + str(out.parent / "ecache")]
    return load_config(recipe_path("wmss"), over + [f"{k}={v}" for k, v in extra.items()])


def test_kill_and_resume_gives_identical_metrics(resume_check, tmp_path):
    fresh = WMSSTrainer(_cfg(tmp_path / "fresh"))
    fresh.logger.close()

    def same_draw(resumed):  # the WD-DS draw is restored, not recomputed from the moved-on strong model
        assert resumed.indices == fresh.indices

    resumed = resume_check(WMSSTrainer, _cfg, kill_at=2, on_resume=same_draw)
    assert resumed.step == 6


def test_cli_end_to_end_exports_only_the_strong_model(tmp_path, capsys):
    out = tmp_path / "run"
    over = ["model.hidden_size=64", "model.num_layers=2", "model.intermediate_size=128", "task.size=64",
            "task.eval_size=16", "eval.size=16", "sft.size=64", "sft.steps=30", "sft.batch_size=16", "wmss.steps=12",
            "wmss.lr=3e-3", "log.tensorboard=false", f"log.output_dir={out}"]
    assert main(["sft", "wmss", *over, "--wmss"]) == 0
    rows = read_metrics(out / "metrics.jsonl")
    head, steps = rows[0], [r for r in rows if "wmss/loss" in r]
    assert head["wmss/examples"] == 64 and 0 < head["wmss/unique_frac"] < 1  # resampled with replacement
    assert len(steps) == 12 and steps[-1]["wmss/margin"] > steps[0]["wmss/margin"]  # learning happened
    assert steps[-1]["wmss/loss"] < steps[0]["wmss/loss"]
    assert (out / "report.html").is_file() and "non-target gradient mass" in (out / "report.html").read_text()
    deployed = AutoModelForCausalLM.from_pretrained(out / "policy")  # plain transformers, no credo code
    sft_only = AutoModelForCausalLM.from_pretrained(out / "sft_policy")
    assert sum(p.numel() for p in deployed.parameters()) == sum(p.numel() for p in sft_only.parameters())
    assert sorted(x.name for x in (out / "policy").iterdir() if x.is_dir()) == []  # no weak branch inside
    ckpt = sorted((out / "checkpoints").iterdir())[-1]
    strong_ckpt = AutoModelForCausalLM.from_pretrained(ckpt / "policy")
    x = torch.tensor([[5, 6, 7, 8]])
    assert torch.equal(deployed(x).logits, strong_ckpt(x).logits)
    assert not torch.equal(deployed(x).logits, sft_only(x).logits)
    assert json.loads(capsys.readouterr().out.split("\n", 2)[2])["wmss/loss"] == pytest.approx(steps[-1]["wmss/loss"])


def test_bad_wmss_settings_fail_before_any_training(tmp_path):
    from credo.config import ConfigError
    from credo.models import ModelError

    with pytest.raises(ModelError, match="nowhere"):
        WMSSTrainer(_cfg(tmp_path / "r", **{"wmss.weak": str(tmp_path / "nowhere")}))
    with pytest.raises(ConfigError, match="wmss.lam"):
        WMSSTrainer(_cfg(tmp_path / "r", **{"wmss.lam": 0.0}))
    with pytest.raises(ConfigError, match="alpha/beta/gamma"):
        WMSSTrainer(_cfg(tmp_path / "r", **{"wmss.beta": -1.0}))
    assert not (tmp_path / "r" / "sft_policy").exists()
