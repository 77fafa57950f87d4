"""R2M through the real RL trainer: states of the sampling policy, gradients only into fusion + head, BT learning,
exact resume and an end-to-end run."""

import copy

import pytest
import torch

from credo.config import load_config
from credo.rewards.pairs import Pair, write_pairs
from credo.rm import last_layer_states, pair_accuracy
from credo.rm.losses import bt_loss, grebt_loss
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=64", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4",
         "eval.every=2", "eval.size=4", "eval.pass_k=0", "log.tensorboard=false", "log.progress=false",
         "log.report=false", "algo.advantage=rloo", "algo.kl_coef=0.05", "train.lr=1e-2",
         # an RM trunk of another width and tokenizer than the policy
         "rm.enabled=true", "rm.model={hidden_size: 48, num_heads: 2, num_layers: 1, intermediate_size: 64, "
         "init_seed: 3, tokenizer: pair}", "rm.fusion=policy", "rm.update=grebt", "rm.d=16", "rm.lr=1e-2"]


def pairs_file(tmp_path):
    """Separable toy preferences: the chosen answer ends in '!' and the rejected one in '?'."""
    rows = [Pair(f"{a}+{b}=", f"{a + b}!", f"{a + b}?") for a in range(6) for b in range(6)]
    return write_pairs(tmp_path / "pairs.jsonl", rows), rows


def trainer(tmp_path, *extra):
    p, _ = pairs_file(tmp_path)
    return RLTrainer(load_config(None, SMALL + [f"log.output_dir={tmp_path / 'run'}", f"rm.pairs={p}",
                                                "rm.pretrain_steps=30", "rm.pretrain_lr=3e-2", *extra]))


def test_bradley_terry_pretraining_learns_the_pairs(tmp_path):
    _, rows = pairs_file(tmp_path)

    def bt(rm):
        with torch.no_grad():
            c, r = rm.trunk_states([x.prompt + x.chosen for x in rows])[0], rm.trunk_states(
                [x.prompt + x.rejected for x in rows])[0]
            return float(bt_loss(rm(c), rm(r)))

    before = bt(trainer(tmp_path / "a", "rm.pretrain_steps=0").reward_model.rm)
    rm = trainer(tmp_path / "b", "rm.pretrain_steps=60").reward_model.rm
    assert pair_accuracy(rm, rows) == 1.0
    assert bt(rm) < min(before, 0.69) - 0.2


def test_states_come_from_the_sampling_policy_and_are_refreshed_after_the_update(tmp_path):
    tr = trainer(tmp_path)
    sampler = copy.deepcopy(tr.model)
    trajs, _ = tr.rollout()
    seqs = [torch.cat([t.prompt_ids, t.response_ids]) for t in trajs]
    at_rollout = [t.info["rm_states"] for t in trajs]
    assert all(torch.allclose(a, b) for a, b in zip(at_rollout, last_layer_states(sampler, seqs, tr.tok.pad_token_id)))
    assert at_rollout[0].shape == (len(seqs[0]) - 1, 32)  # policy width 32, the RM's is 48
    assert {t.info["rm_states_version"] for t in trajs} == {0}
    from credo.credit import compute_advantages

    compute_advantages(trajs, tr.cfg.algo)
    tr.learner.attach_logprobs(trajs)
    tr.learner.update(trajs)
    tr.reward_model.after_step(trajs, 0)
    fresh = last_layer_states(tr.model, seqs, tr.tok.pad_token_id)
    assert all(torch.allclose(t.info["rm_states"], f) for t, f in zip(trajs, fresh))
    assert not torch.allclose(trajs[0].info["rm_states"], at_rollout[0])  # the policy moved
    assert {t.info["rm_states_version"] for t in trajs} == {1}


def test_only_the_cross_attention_and_head_get_gradients(tmp_path):
    tr = trainer(tmp_path)
    trajs, _ = tr.rollout()
    rmr = tr.reward_model
    r = rmr.rewards(trajs, tr.cfg.train.steps)  # t = T: omega at its floor, so the fusion matters
    loss, _ = grebt_loss(r, [t.group_id for t in trajs], [float(x) + 0.01 * i for i, x in enumerate(r.detach())],
                         0.3)
    loss.backward()
    rm = rmr.rm
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in rm.fusion.parameters())
    assert rm.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in rm.trunk.parameters())
    assert all(p.grad is None for p in tr.model.parameters())
    assert {id(p) for g in rmr.opt.param_groups for p in g["params"]} == {id(p) for p in rm.trainable()}


def test_head_only_update_leaves_the_fusion_alone(tmp_path):
    tr = trainer(tmp_path, "rm.update_fusion=false")
    assert {id(p) for g in tr.reward_model.opt.param_groups for p in g["params"]} == \
        {id(p) for p in tr.reward_model.rm.head.parameters()}


@pytest.mark.parametrize("fusion", ["noise", "self", "none"])
def test_ablation_states(tmp_path, fusion):
    tr = trainer(tmp_path, f"rm.fusion={fusion}")
    trajs, _ = tr.rollout()
    t = trajs[0]
    if fusion == "none":
        assert "rm_states" not in t.info and tr.reward_model.rm.fusion is None
    else:
        width = 48 if fusion == "self" else 32
        assert t.info["rm_states"].shape[1] == width
    assert t.reward == t.rewards["rm"] == t.info["rm_annotation"]


def test_the_rm_update_learns_on_a_fixed_batch(tmp_path):
    """Repeated GREBT steps on one batch lower its GREBT loss."""
    tr = trainer(tmp_path, "rm.lr=3e-2", "rm.alpha=0.5")
    trajs, _ = tr.rollout()
    for i, t in enumerate(trajs):  # distinct annotations, so every group has a best and a worst
        t.info["rm_annotation"] += 1e-3 * i
    first = tr.reward_model.after_step(trajs, tr.cfg.train.steps)["rm/loss"]
    for _ in range(20):
        last = tr.reward_model.after_step(trajs, tr.cfg.train.steps)["rm/loss"]
    assert last < first - 0.05


def test_end_to_end_rlhf_run_updates_rm_and_logs(tmp_path):
    tr = trainer(tmp_path, "train.steps=3")
    head0 = tr.reward_model.rm.head.weight.detach().clone()
    tr.run()
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "rm/loss" in r]
    assert len(rows) == 3
    assert [r["rm/omega"] for r in rows] == pytest.approx([1.0, 0.75, 0.6])  # T = 3, floor 0.6
    assert all(r["reward/mean"] == pytest.approx(r["rm/reward_mean"]) for r in rows)  # the RM's score is the reward
    assert not torch.equal(head0, tr.reward_model.rm.head.weight)
    assert all(torch.isfinite(torch.tensor(r["rm/loss"])) for r in rows)


def test_resume_is_exact_with_the_rm_update(tmp_path, resume_check):
    p, _ = pairs_file(tmp_path)

    def make(out):
        return load_config(None, SMALL + [f"log.output_dir={out}", f"rm.pairs={p}", "rm.pretrain_steps=10",
                                          "train.steps=4", "log.save_every=2", "log.keep_last=1",
                                          "rm.fusion=noise"])

    resume_check(RLTrainer, make)


def test_resume_is_exact_with_policy_states(tmp_path, resume_check):
    def make(out):
        return load_config(None, SMALL + [f"log.output_dir={out}", "train.steps=4", "log.save_every=2",
                                          "log.keep_last=1"])

    resume_check(RLTrainer, make)


def test_shipped_r2m_recipe_runs_with_task_pairs(tmp_path):
    from credo.config import recipe_path

    tiny = [x for x in SMALL if not x.startswith(("rm.", "algo."))] + [
        "sft.steps=0", "train.steps=1", "train.prompts_per_step=2", "task.size=32", "rm.pretrain_steps=5",
        "rm.model={hidden_size: 32, num_layers: 1, num_heads: 2, intermediate_size: 64, init_seed: 1}",
        f"log.output_dir={tmp_path / 'run'}"]
    tr = RLTrainer(load_config(recipe_path("r2m"), tiny))
    assert tr.cfg.rm.pairs == "task" and tr.sft_metrics["rm/pretrain_loss"] > 0
    tr.run()
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "rm/loss" in r]
    assert len(rows) == 1 and rows[0]["rm/pairs"] >= 1


def test_lora_trunk_pretraining_trains_the_adapter_then_freezes_it(tmp_path):
    tr = trainer(tmp_path, "rm.train_trunk=true", "rm.pretrain_steps=3", "rm.model={hidden_size: 48, num_heads: 2, "
                 "num_layers: 1, intermediate_size: 64, init_seed: 3, tokenizer: pair, lora: {r: 2}}")
    weights = tr.reward_model.state_dict()["weights"]
    lora_b = [k for k in weights if "lora_B" in k]
    assert lora_b and any(weights[k].abs().sum() > 0 for k in lora_b)  # LoRA B starts at 0: pre-training moved it
    assert not any(p.requires_grad for p in tr.reward_model.rm.trunk.parameters())
