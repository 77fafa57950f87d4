"""Dynamic sampling through the real trainer: constant groups (by raw score) are dropped and the batch refilled."""

from credo.config import load_config
from credo.train.rl import RLTrainer

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.kind=callable", "task.name=selection_task:rows", "task.size=40", "task.eval_size=4",
        "train.prompts_per_step=4", "sampling.n=6", "sampling.max_new_tokens=6", "sampling.stop=[]",
        "algo.dynamic_sampling=true", "algo.max_refill_rounds=6", "algo.overlong_penalty=true",
        "algo.overlong_buffer=3", "log.tensorboard=false", "log.progress=false", "eval.size=2", "eval.pass_k=0"]


def test_dynamic_sampling_drops_constant_score_groups_and_refills(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(__file__.rsplit("/", 1)[0])
    trainer = RLTrainer(load_config(None, TINY + [f"log.output_dir={tmp_path}"]))
    batch, metrics = trainer.rollout()
    groups = {t.group_id for t in batch}
    assert metrics["batch/dropped_groups"] >= 1
    assert len(groups) == 4 and metrics["batch/groups"] == 4.0
    by_group = {g: [t for t in batch if t.group_id == g] for g in groups}
    for rows in by_group.values():
        assert len(rows) == 6
        assert len({t.score for t in rows}) > 1  # no constant-score group survived
    assert {t.info["verdict"]["gold"] for t in batch} == {"varied"}  # every always-correct group was dropped
    # a full step: the overlong penalty shapes the reward, yet filtering still used the raw score
    metrics = trainer.train_step()
    assert metrics["batch/groups"] == 4.0 and metrics["actor/skipped_updates"] == 0.0
