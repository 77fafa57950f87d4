"""HACPO through the real path: tokenizer-neutral pool, stepwise clip across mini-batches, arms, per-agent metrics,
independent inference from exported directories, exact resume (capability tracker in the checkpoint)."""

from pathlib import Path

import pytest
import torch

from credo.config import ModelConfig, load_config
from credo.models import load_policy
from credo.train import hacpo_update as hu
from credo.train.hacpo import HACPOTrainer
from credo.train.metrics import read_metrics
from credo.train.multi import build_trainer
from credo.trajectory import Trajectory
from credo.workflows.pool import retokenize

SMALL = ["task.kind=callable", "task.name=letters_task:rows", "sampling.stop=[]", "model.hidden_size=32",
         "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64", "task.size=32", "task.eval_size=4",
         "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4", "sft.steps=2", "sft.batch_size=8",
         "eval.every=0", "eval.size=4", "log.tensorboard=false", "log.progress=false", "train.lr=1e-2",
         "train.threads=1", "train.mini_batches=2", "multi.workflow=hacpo",
         "multi.agents=[{name: weak, model: {init_seed: 1}, sft_prompt: '{question} Answer:'}, "
         "{name: strong, model: {init_seed: 2, tokenizer: pair, hidden_size: 48}}]"]


@pytest.fixture(autouse=True)
def _task_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "workflows"))


def params(tr, name):
    return [p.detach().clone() for p in tr.policies[name].model.parameters()]


def changed(before, tr, name):
    return any(not torch.equal(a, b) for a, b in zip(before, tr.policies[name].model.parameters()))


def test_retokenisation_round_trip_between_char_and_pair_tokenizers():
    small = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    _, char, _ = load_policy(ModelConfig(**small))
    _, pair, _ = load_policy(ModelConfig(tokenizer="pair", **small))
    text = " 12+34 abcd ok"
    ids = char(text, add_special_tokens=False)["input_ids"] + [char.eos_token_id]
    src = Trajectory(torch.tensor([1, 5]), torch.tensor(ids), torch.full((len(ids),), -0.5), torch.ones(len(ids)),
                     torch.zeros(len(ids), dtype=torch.long), response_text=text, agent="a", group_id=3, reward=0.7,
                     info={"source_mean_logp": -0.5, "eos": True})
    out = retokenize(src, pair, "Q:", chat_template=False)
    assert out.response_ids[-1] == pair.eos_token_id and out.num_tokens < src.num_tokens
    assert pair.decode(out.response_ids, skip_special_tokens=True) == text
    assert out.prompt_ids.tolist() == pair("Q:")["input_ids"]
    assert (out.agent, out.group_id, out.reward, out.info["source_mean_logp"], out.info["cross"]) == \
        ("a", 3, 0.7, -0.5, True)
    back = retokenize(out, char, "Q:", chat_template=False)
    assert back.response_ids.tolist() == ids and back.response_text == text


def test_stepwise_clip_bound_per_mini_batch_resets_every_step(tmp_path, monkeypatch):
    seen = []
    real = hu.hacpo_loss

    def spy(logprobs, mask, old_mean, adv, cross, weight, lower, *a, **k):
        seen.append((lower, cross.tolist()))
        return real(logprobs, mask, old_mean, adv, cross, weight, lower, *a, **k)

    monkeypatch.setattr(hu, "hacpo_loss", spy)
    tr = HACPOTrainer(load_config(None, SMALL + ["train.mini_batches=4", "hacpo.delta=0.3", "hacpo.delta_step=0.05",
                                                 f"log.output_dir={tmp_path}"]))
    for _ in range(2):
        seen.clear()
        m = tr.train_step()
        # each learner: 4 self rows, then 4 cross rows, in 4 mini-batches of 2 (self first)
        per_learner = [seen[:4], seen[4:]]
        for calls in per_learner:
            assert [c[0] for c in calls] == pytest.approx([0.7, 0.75, 0.8, 0.85])
            assert [c[1] for c in calls] == [[False, False], [False, False], [True, True], [True, True]]
    assert m["weak/hacpo/cross_lower_bound_last"] == pytest.approx(0.85)


def test_e2e_changes_both_agents_logs_metrics_and_exported_agents_run_alone(tmp_path):
    cfg = load_config(None, SMALL + ["train.steps=2", f"log.output_dir={tmp_path}"])
    tr = build_trainer(cfg)
    assert isinstance(tr, HACPOTrainer)
    before = {n: params(tr, n) for n in ("weak", "strong")}
    final = tr.run()
    assert changed(before["weak"], tr, "weak") and changed(before["strong"], tr, "strong")
    rows = read_metrics(tmp_path / "metrics.jsonl")
    step = next(r for r in rows if r["step"] == 2 and "hacpo/weak/capability" in r)
    for key in ("hacpo/strong/capability", "hacpo/omega/weak/strong", "weak/hacpo/baseline_mean",
                "strong/hacpo/cross_ratio_mean", "strong/hacpo/cross_ratio_min", "weak/hacpo/cross_ratio_max",
                "weak/hacpo/self_clipfrac_low", "weak/hacpo/cross_clipfrac_high", "strong/actor/grad_norm",
                "pool/weak/accuracy", "rollouts/total"):
        assert key in step, key
    assert step["rollouts/total"] == 2 * 2 * 2 * 2  # steps x prompts x n x agents
    assert step["hacpo/omega/weak/strong"] == pytest.approx(
        min(max(step["hacpo/weak/capability"] / step["hacpo/strong/capability"], 0.1), 10))
    for key in ("eval/weak/accuracy", "eval/strong/accuracy", "eval/weak/accuracy_per_1k_rollouts"):
        assert key in final, key
    root = tr.export()
    for name in ("weak", "strong"):  # each exported directory is a complete, standalone policy
        model, tok, _ = load_policy(ModelConfig(path=str(root / name)))
        assert torch.equal(next(model.parameters()), next(tr.policies[name].model.parameters()))
        assert len(tok) == len(tr.policies[name].tok)


@pytest.mark.parametrize("arm", ["gspo", "naive"])
def test_arms_share_or_not(tmp_path, arm):
    tr = HACPOTrainer(load_config(None, SMALL + [f"hacpo.arm={arm}", f"log.output_dir={tmp_path}"]))
    m = tr.train_step()
    assert m["weak/hacpo/cross_rows"] == (0.0 if arm == "gspo" else 4.0)
    assert ("weak/hacpo/cross_ratio_mean" in m) == (arm == "naive")


def test_resume_reproduces_the_uninterrupted_run(resume_check):
    base = SMALL + ["train.steps=4", "log.save_every=2", "log.keep_last=1", "eval.every=2"]

    def restored(tr):
        assert tr.workflow.tracker.steps == 2 and tr.workflow.rollouts == 16

    resume_check(HACPOTrainer, lambda out: load_config(None, base + [f"log.output_dir={out}"]), on_resume=restored)


def _row(agent, group, reward):
    one = torch.ones(1)
    return Trajectory(prompt_ids=torch.tensor([1]), response_ids=torch.tensor([2]), logprobs=torch.zeros(1),
                      loss_mask=one, versions=torch.zeros(1, dtype=torch.long), agent=agent, group_id=group,
                      reward=reward)


def test_trainer_weights_cross_rows_by_omega_source_over_learner():
    """P_weak = 0.2, P_strong = 0.8. Learner weak: its baseline rescales the strong agent's rewards by
    omega(weak, strong) = 0.25, and a strong cross row is weighted omega(strong, weak) = 4 (learn more from the
    stronger agent). Own [1, 0], cross [1, 1]: mu = (1 + 0 + 0.25 + 0.25) / 4 = 0.375, joint std 0.5, so
    A = (1 - 0.375) / 0.5 = 1.25 and (0 - 0.375) / 0.5 = -0.75. Swapping omega(j, k) and omega(k, j) gives weight
    0.25 and a baseline 2.25 > 1 (guard: own mean 0.5)."""
    from types import SimpleNamespace

    from credo.config import Config
    from credo.credit.capability import CapabilityTracker

    tracker = CapabilityTracker(["weak", "strong"], window=5)
    tracker.update({"weak": [0.2], "strong": [0.8]})
    omega = tracker.matrix()
    fake = SimpleNamespace(cfg=Config(), index={"weak": 0, "strong": 1})
    fake.cfg.hacpo.arm = "hacpo"
    own, cross = [_row("weak", 0, 1.0), _row("weak", 0, 0.0)], [_row("strong", 0, 1.0), _row("strong", 0, 1.0)]
    HACPOTrainer.advantages(fake, "weak", own, cross, omega)
    assert [t.info["weight"] for t in cross] == pytest.approx([4.0, 4.0])
    assert [t.advantage for t in own + cross] == pytest.approx([1.25, -0.75, 1.25, 1.25], abs=1e-5)
    own, cross = [_row("strong", 1, 1.0), _row("strong", 1, 0.0)], [_row("weak", 1, 1.0), _row("weak", 1, 0.0)]
    HACPOTrainer.advantages(fake, "strong", own, cross, omega)
    assert [t.info["weight"] for t in cross] == pytest.approx([0.25, 0.25])
