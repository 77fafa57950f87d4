"""End to end: GRPO on a JSONL dataset without gold answers (conversational rows with a system prompt), trained
only by a TRL-style reward function; the per-function metrics are logged and the reward is learned."""

import json
from pathlib import Path

from credo.config import load_config
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer

HERE = Path(__file__).parent


def test_grpo_learns_a_reward_function_on_a_dataset(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE.parent / "rewards"))
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": f"prompt {i}:"}]}) + "\n"
                            for i in range(68)))
    cfg = load_config(None, [
        "task.kind=dataset", f"task.path={data}", "task.eval_size=4", "task.prompt_template='{question}'",
        "reward.functions=[{name: 'reward_helpers:count_a', weight: 1.0}, {name: length, weight: 0.0}]",
        "sampling.max_new_tokens=8", "sampling.stop=[]", "train.lr=1e-3", "train.steps=24", "train.threads=1",
        "eval.every=0", "eval.size=4", "eval.pass_k=0", "log.tensorboard=false", "log.progress=false",
        f"log.output_dir={tmp_path / 'run'}"])
    trainer = RLTrainer(cfg)
    assert trainer.task.has_answers is False and trainer.rewards.names == ["count_a", "length"]
    last_eval = trainer.run()
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "reward/count_a_mean" in r]
    assert len(rows) == 24
    assert all({"reward/length_mean", "reward/skipped", "reward/mean"} <= set(r) for r in rows)
    assert all("reward/score_mean" in r and r["reward/score_mean"] == r["reward/mean"] for r in rows)  # no verifier
    first = sum(r["reward/count_a_mean"] for r in rows[:3]) / 3
    last = sum(r["reward/count_a_mean"] for r in rows[-3:]) / 3
    assert first < 0.1 and last > 0.3, (first, last)
    assert "eval/accuracy" not in last_eval and last_eval["eval/reward_mean"] > 0.3
