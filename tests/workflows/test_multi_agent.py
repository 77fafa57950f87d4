"""Multi-agent training through the real path: separate policies, schedules, per-agent metrics, exact resume."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from credo.config import ConfigError, load_config
from credo.train.metrics import read_metrics
from credo.train.multi import MultiAgentTrainer, build_trainer

# A dense reward (share of lowercase letters) so that every step carries a learning signal.
SMALL = ["task.kind=callable", "task.name=letters_task:rows", "sampling.stop=[]",
         "model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=32", "task.eval_size=4", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4",
         "sft.steps=2", "sft.batch_size=8", "eval.every=0", "eval.size=4", "log.tensorboard=false",
         "log.progress=false", "train.lr=1e-2", "train.threads=1", "multi.min_samples=4"]
DYAD = ["multi.workflow=think_reason",
        "multi.agents=[{name: thinker, model: {init_seed: 1}}, "
        "{name: solver, model: {init_seed: 2}, sft_prompt: '{question} Answer:'}]"]


@pytest.fixture(autouse=True)
def _task_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def params(trainer, name):
    return [p.detach().clone() for p in trainer.policies[name].model.parameters()]


def changed(before, trainer, name):
    return any(not torch.equal(a, b) for a, b in zip(before, trainer.policies[name].model.parameters()))


def test_separate_policies_hold_separate_weights_and_share_is_one_policy(tmp_path):
    tr = MultiAgentTrainer(load_config(None, SMALL + DYAD + [f"log.output_dir={tmp_path / 'a'}"]))
    t, s = tr.agents["thinker"].policy, tr.agents["solver"].policy
    assert t is not s and t.model is not s.model and t.learner.opt is not s.learner.opt
    assert not torch.equal(next(t.model.parameters()), next(s.model.parameters()))
    shared = ["multi.workflow=think_reason",
              "multi.agents=[{name: thinker}, {name: solver, share: thinker}]"]
    tr = MultiAgentTrainer(load_config(None, SMALL + shared + [f"log.output_dir={tmp_path / 'b'}"]))
    assert tr.agents["solver"].policy is tr.agents["thinker"].policy and list(tr.policies) == ["thinker"]


def test_ccpo_run_updates_both_agents_and_logs_per_agent_metrics(tmp_path):
    cfg = load_config(None, SMALL + DYAD + ["train.steps=2", "multi.schedule=simultaneous",
                                            f"log.output_dir={tmp_path}"])
    tr = build_trainer(cfg)
    assert isinstance(tr, MultiAgentTrainer)
    before = {n: params(tr, n) for n in ("thinker", "solver")}
    tr.run()
    assert changed(before["thinker"], tr, "thinker") and changed(before["solver"], tr, "solver")
    rows = read_metrics(tmp_path / "metrics.jsonl")
    step = next(r for r in rows if r["step"] == 1 and "ccpo/help_rate" in r)
    for key in ("thinker/think/reward_mean", "thinker/think/adv_var", "solver/solve/reward_var",
                "solver/solve/adv_mean", "thinker/actor/grad_norm", "solver/actor/loss", "ccpo/ema_delta_mean",
                "ccpo/hurt_rate", "ccpo/joint_accuracy", "ccpo/solo_accuracy"):
        assert key in step, key
    final = rows[-1]
    for key in ("eval/team_accuracy", "eval/solo_accuracy", "eval/lazy_accuracy", "eval/lazy_gap"):
        assert key in final, key
    out = tr.export()
    for name in ("thinker", "solver"):
        reloaded = AutoModelForCausalLM.from_pretrained(out / name)
        assert torch.equal(next(reloaded.parameters()), next(tr.policies[name].model.parameters()))


def test_alternating_schedule_trains_only_the_scheduled_agent(tmp_path):
    cfg = load_config(None, SMALL + DYAD + ["multi.schedule=alternating", "multi.period=1",
                                            f"log.output_dir={tmp_path}"])
    tr = MultiAgentTrainer(cfg)
    for expected, idle in (("thinker", "solver"), ("solver", "thinker"), ("thinker", "solver")):
        before = {n: params(tr, n) for n in ("thinker", "solver")}
        m = tr.train_step()
        assert m[f"schedule/{expected}"] == 1.0 and m[f"schedule/{idle}"] == 0.0
        assert changed(before[expected], tr, expected) and not changed(before[idle], tr, idle)
        assert f"{expected}/actor/loss" in m and f"{idle}/actor/loss" not in m


def test_frozen_agent_never_changes(tmp_path):
    agents = ["multi.workflow=voting", "multi.agents=[{name: a}, {name: b, trainable: false}, {name: c}]"]
    tr = MultiAgentTrainer(load_config(None, SMALL + agents + [f"log.output_dir={tmp_path}"]))
    before = params(tr, "b")
    m = tr.train_step()
    assert not changed(before, tr, "b") and tr.policies["b"].learner is None
    assert "vote/b/pivotal_rate" in m and "a/actor/loss" in m and "b/actor/loss" not in m


def test_bad_agent_lists_name_the_entry(tmp_path):
    for agents, msg in (("[{name: a}, {name: a}]", "duplicate"), ("[{name: a, share: z}]", "earlier agent"),
                        ("[{nme: a}]", "multi.agents\\[0\\]"), ("[{name: a, model: {hiden_size: 8}}]", "hidden_size")):
        with pytest.raises(ConfigError, match=msg):  # rejected when the config is loaded
            load_config(None, SMALL + ["multi.workflow=voting", f"multi.agents={agents}", f"log.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="needs 2 agents"):
        load_config(None, SMALL + ["multi.workflow=think_reason", "multi.agents=[{name: a}]",
                                   f"log.output_dir={tmp_path}"])


def test_multi_agent_resume_reproduces_the_uninterrupted_run(resume_check):
    """Covers the CCPO history normaliser, both learners, the data cursor and reward noise."""
    base = SMALL + DYAD + ["train.steps=4", "log.save_every=2", "log.keep_last=1", "reward.noise_p=0.3",
                           "multi.schedule=alternating", "multi.period=1", "eval.every=2"]

    def restored(tr):
        assert tr.workflow.hist.ready("delta")

    resume_check(MultiAgentTrainer, lambda out: load_config(None, base + [f"log.output_dir={out}"]),
                 on_resume=restored)


def _recorded(tr):
    """Keep the episodes the workflow pays, to inspect the turns after the step."""
    seen, credit = [], tr.workflow.credit

    def record(episodes):
        seen.extend(episodes)
        return credit(episodes)

    tr.workflow.credit = record
    return seen


def test_ccpo_v2_advantages_are_not_divided_by_the_std(tmp_path):
    """v2 keeps Dr.GRPO advantages (norm_adv_by_std=False) so the small λ bonus is not rescaled away:
    A = r - mean over the prompt's samples of that (agent, role)."""
    cfg = load_config(None, SMALL + DYAD + ["multi.credit=v2", "multi.schedule=simultaneous", "sampling.n=4",
                                            f"log.output_dir={tmp_path}"])
    tr = MultiAgentTrainer(cfg)
    seen = _recorded(tr)
    tr.train_step()
    checked = 0
    for role in ("think", "solve"):
        for g in {e.group_id for e in seen}:
            ts = [t for e in seen if e.group_id == g for t in e.turns if t.role == role]
            r = torch.tensor([t.reward for t in ts], dtype=torch.float64)
            assert [t.advantage for t in ts] == pytest.approx((r - r.mean()).tolist(), abs=1e-6)
            checked += int(r.std() > 0.05 and abs(float(r.std()) - 1) > 0.05)
    assert checked > 0  # at least one group where dividing by the std would have changed the values


def test_dacr_reward_noise_contaminates_the_scores_before_credit(tmp_path):
    """With noise the critic must still be paid the cross-improvement of the (noisy) scores its partner's turns
    got: r_crit = r_rewrite - r_answer; the clean verifier scores stay in ``rewards['score']``."""
    cfg = load_config(None, SMALL + ["multi.workflow=answer_critique_rewrite", "multi.schedule=simultaneous",
                                     "multi.agents=[{name: p}, {name: q}]", "reward.noise_p=1.0",
                                     "reward.noise_scale=3.0", "multi.answer_penalty=0.0",
                                     f"log.output_dir={tmp_path}"])
    tr = MultiAgentTrainer(cfg)
    seen = _recorded(tr)
    m = tr.train_step()
    assert m["reward/noise_frac"] == 1.0
    for e in seen:
        answer, crit, rewrite = e.turns
        assert crit.reward == pytest.approx(rewrite.reward - answer.reward)
        assert rewrite.reward != pytest.approx(e.score) and answer.reward != pytest.approx(e.info["answer"])
        assert answer.rewards["score"] == e.info["answer"] and rewrite.rewards["score"] == e.score
