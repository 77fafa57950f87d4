"""CBS through the real RL trainer: the scheduler's subset is what the learner trains on, replayed rollouts reach the
update, the recipes run from the CLI, and a run killed with a non-empty buffer resumes with identical metrics."""

import pytest

from credo.cli import main
from credo.config import load_config
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.size=64", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4",
        "sft.steps=3", "sft.batch_size=8", "eval.size=4", "eval.pass_k=2", "log.tensorboard=false",
        "log.progress=false", "train.lr=1e-2"]


def spy(trainer):
    """Record what the selector returns and what the learner is asked to train on."""
    seen = {"selected": [], "trained": []}
    select, update = trainer.selector.select, trainer.learner.update

    def select_spy(*a, **kw):
        out = select(*a, **kw)
        seen["selected"].append(list(out[0]))
        return out

    def update_spy(batch):
        seen["trained"].append(list(batch))
        return update(batch)

    trainer.selector.select, trainer.learner.update = select_spy, update_spy
    return seen


def test_intra_selection_is_what_the_learner_trains_on(tmp_path):
    cfg = load_config(None, TINY + ["algo.scheduler=cbs", "cbs.warmup_rounds=1", "cbs.keep_frac=0.5",
                                    "train.mini_batches=2", f"log.output_dir={tmp_path}"])
    trainer = RLTrainer(cfg)
    seen = spy(trainer)
    for _ in range(3):
        m = trainer.train_step()
        assert m["cbs/candidates"] == 8 and m["cbs/chosen"] == 4  # 2 groups of 4, half of each
    for selected, trained in zip(seen["selected"], seen["trained"], strict=True):
        assert [id(t) for t in trained] == [id(t) for t in selected]
        assert sorted(t.group_id for t in trained) == [g for g in sorted({t.group_id for t in trained}) for _ in "ab"]
        assert all("old_logprobs" in t.info for t in trained)  # recomputed under the current policy (2 mini-batches)
    assert "cbs/realised_gain" in m and "cbs/scorer_loss" in m and m["cbs/warmup"] == 0.0
    assert m["batch/groups"] == 2 and m["perf/generated_tokens"] > 0  # batch metrics describe the fresh round


def test_global_selection_replays_rollouts_of_earlier_rounds(tmp_path):
    cfg = load_config(None, TINY + ["algo.scheduler=cbs", "cbs.mode=global", "cbs.buffer_rounds=3", "cbs.top_k=8",
                                    "cbs.explore=neural_ucb", "cbs.warmup_rounds=2", f"log.output_dir={tmp_path}"])
    trainer = RLTrainer(cfg)
    seen = spy(trainer)
    for _ in range(4):
        m = trainer.train_step()
    assert m["cbs/candidates"] == 24 and m["cbs/chosen"] == 8
    fresh_ids = [{id(t) for t in trained} for trained in seen["trained"]]
    replayed = [t for t in seen["trained"][-1] if id(t) in set().union(*fresh_ids[:-1])]
    assert replayed, "no rollout of an earlier round was trained on again"
    assert sum(m[k] for k in m if k.startswith("cbs/chosen_frac/age_")) > 0
    assert all(e.usage >= 1 for e in trainer.selector.buffer.entries if id(e.traj) in {id(t) for t in replayed})


@pytest.mark.parametrize("recipe", ["cbs_intra", "cbs_global"])
def test_cbs_recipes_train_from_the_cli(recipe, tmp_path):
    run = tmp_path / "run"
    assert main(["train", recipe, *TINY, "train.steps=3", "cbs.warmup_rounds=1", "eval.every=0",
                 f"log.output_dir={run}", "log.report=false"]) == 0
    rows = [r for r in read_metrics(run / "metrics.jsonl") if "cbs/chosen" in r]
    want = 4 if recipe == "cbs_intra" else 8  # half of each group | K = one fresh round (2 prompts x 4)
    assert len(rows) == 3 and rows[-1]["cbs/chosen"] == want and "cbs/realised_gain" in rows[-1]


@pytest.mark.parametrize("extra", [["cbs.mode=global", "cbs.buffer_rounds=2", "cbs.explore=ee_net"],
                                   ["cbs.explore=neural_ucb"]])
def test_kill_and_resume_with_a_full_buffer_gives_identical_metrics(extra, tmp_path, resume_check):
    def check(resumed):
        sel = resumed.selector
        assert len(sel.buffer) > 0 and sel.pending is not None and sel.scheduler.bandit.ys.numel() > 0

    resume_check(RLTrainer, lambda out: load_config(None, TINY + extra + [
        "algo.scheduler=cbs", "cbs.warmup_rounds=1", "train.mini_batches=2", "train.steps=4", "eval.every=2",
        "log.save_every=2", f"log.output_dir={out}"]), on_resume=check)


@pytest.mark.parametrize("overrides,message", [
    (["algo.scheduler=cbz"], "algo.scheduler: 'cbz'; one of"),
    (["algo.scheduler=cbs", "cbs.buffer_rounds=4"], "cbs.buffer_rounds: 4; must be 1 with cbs.mode=intra"),
    (["algo.scheduler=cbs", "cbs.keep_frac=0"], "cbs.keep_frac: 0.0; must be in (0, 1]"),
    (["algo.scheduler=cbs", "cbs.explore=ucb"], "cbs.explore: 'ucb'; one of"),
    (["algo.scheduler=cbs", "train.backend=ddp"], "train.backend: 'ddp'; rollout scheduling (algo.scheduler) runs"),
    (["algo.scheduler=random"], "algo.scheduler: 'random'; rollout scheduling runs in"),  # on a multi-agent recipe
])
def test_bad_scheduler_settings_are_one_line_errors(overrides, message):
    from credo.config import ConfigError, recipe_path

    with pytest.raises(ConfigError) as e:
        load_config(recipe_path("ccpo_voting") if "random" in overrides[0] else None, overrides)
    assert message in str(e.value) and "\n" not in str(e.value)
