"""A run killed after its checkpoint and resumed logs exactly the metrics of an uninterrupted run."""

import pytest

from credo.config import load_config
from credo.train.checkpoint import list_checkpoints, write_dir_atomically
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=64", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4",
         "sft.steps=3", "sft.batch_size=8", "eval.every=2", "eval.size=4", "eval.pass_k=2", "log.save_every=2",
         "log.keep_last=1", "log.tensorboard=false", "log.progress=false", "train.lr=1e-2",
         "train.mini_batches=2", "algo.kl_coef=0.1", "reward.noise_p=0.3"]


def test_resume_reproduces_the_uninterrupted_run(tmp_path, resume_check):
    resume_check(RLTrainer, lambda out: load_config(None, SMALL + ["train.steps=4", f"log.output_dir={out}"]))
    rows = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert len(rows) == 1 + 4 + 2  # step-0 eval, 4 steps, evals at 2 and 4
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [4]  # keep_last=1 pruned step 2
    assert (tmp_path / "b" / "checkpoints" / "step_000004" / "policy" / "config.json").is_file()


def test_a_failed_write_leaves_the_previous_directory(tmp_path):
    """write_dir_atomically: the old directory survives a write that dies half-way; no temp directory is left."""
    final = tmp_path / "policy"
    write_dir_atomically(final, lambda d: (d / "a.txt").write_text("old"))

    def dies(d):
        (d / "a.txt").write_text("new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dir_atomically(final, dies)
    assert [p.name for p in tmp_path.iterdir()] == ["policy"]
    assert (final / "a.txt").read_text() == "old"
    write_dir_atomically(final, lambda d: (d / "b.txt").write_text("new"))
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]


def test_resuming_a_finished_run_returns_its_last_evaluation(tmp_path):
    """Nothing is left to train: no new rows, and the result is the final eval (it used to be {})."""
    cfg = load_config(None, SMALL + ["train.steps=2", f"log.output_dir={tmp_path}"])
    first = RLTrainer(cfg).run()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    again = RLTrainer(cfg, resume=True).run()
    assert again and again == first
    assert read_metrics(tmp_path / "metrics.jsonl") == rows
