"""Runs that cannot learn fail loudly; Ctrl-C stops cleanly; prompts fit the context; bounded reading; umask;
callable task modules from the working directory."""

import os
import stat
import sys

import pytest

from credo.cli import main
from credo.config import ConfigError, TaskConfig, load_config
from credo.tasks import build_task
from credo.tasks.base import TaskError
from credo.train.checkpoint import list_checkpoints, write_dir_atomically
from credo.train.learner import Learner
from credo.train.metrics import TrainingError, read_metrics, truncate_after
from credo.train.rl import RLTrainer

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=32", "task.eval_size=4", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
         "eval.size=2", "eval.pass_k=0", "eval.every=0", "sft.steps=0", "log.tensorboard=false", "log.progress=false",
         "log.report=false"]


def test_a_run_whose_every_update_is_skipped_fails(tmp_path, monkeypatch, capsys):
    """Non-finite gradients on every step (what sampling.temperature=0 caused): the policy never changes, and the
    run used to exit 0. Now it raises, and the CLI exits 1 with one line."""
    def nan_step(self):
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return False, float("nan")

    monkeypatch.setattr(Learner, "step", nan_step)
    cfg = load_config(None, SMALL + ["train.steps=2", f"log.output_dir={tmp_path / 'a'}"])
    with pytest.raises(TrainingError, match="every one of the 2 optimizer updates was skipped"):
        RLTrainer(cfg).run()
    assert main(["train", "grpo", *SMALL, "train.steps=2", f"log.output_dir={tmp_path / 'b'}"]) == 1
    err = capsys.readouterr().err  # (after the progress output of saving the model)
    assert err.splitlines()[-1].startswith("credo: error: ") and "updates was skipped" in err
    assert "Traceback" not in err


def test_ctrl_c_during_a_checkpoint_write_exits_130_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    import credo.train.checkpoint as ck

    real = ck.save_state

    def interrupted(path, obj):
        real(path, obj)
        if obj["step"] == 2:
            raise KeyboardInterrupt  # lands inside the step-2 write, after its files were written to the temp dir
    monkeypatch.setattr(ck, "save_state", interrupted)
    run = tmp_path / "run"
    argv = ["train", "grpo", *SMALL, "train.steps=3", "log.save_every=1", f"log.output_dir={run}"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("credo: interrupted") and "Traceback" not in err
    assert [s for s, _ in list_checkpoints(run)] == [1]
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # the write was abandoned
    monkeypatch.setattr(ck, "save_state", real)
    assert main([*argv, "--resume"]) == 0
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl") if "eval/accuracy" not in r] == [1, 2, 3]


def test_prompts_longer_than_the_context_are_rejected_before_rl(tmp_path):
    cfg = load_config(None, SMALL + ["model.max_positions=16", "sampling.max_new_tokens=8",
                                     f"log.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="exceeds the model's context of 16 tokens"):
        RLTrainer(cfg)


def test_jsonl_row_cap_names_the_limit_and_line(tmp_path, monkeypatch):
    import credo.jsonl

    monkeypatch.setattr(credo.jsonl, "MAX_ROWS", 3)
    f = tmp_path / "rows.jsonl"
    f.write_text("".join(f'{{"question": "{i}+1", "answer": "{i + 1}"}}\n' for i in range(5)))
    with pytest.raises(TaskError, match=r"rows\.jsonl:4: more than 3 rows \(limit credo\.jsonl\.MAX_ROWS\)"):
        build_task(TaskConfig(kind="math_file", path=str(f), size=2, eval_size=1))


def test_an_endless_callable_task_is_read_up_to_its_size(tmp_path, monkeypatch):
    """A generator that never ends (here: raises once read far past what was asked) is sliced, not ``list()``-ed."""
    (tmp_path / "endless_rows.py").write_text(
        "def rows(split, size, seed):\n"
        "    i = 0\n"
        "    while True:\n"
        "        if i > 10 * size:\n"
        "            raise RuntimeError('read too far')\n"
        "        yield {'question': f'{split} {i}', 'answer': str(i)}\n"
        "        i += 1\n")
    monkeypatch.chdir(tmp_path)  # found from the working directory, which is not on sys.path
    assert str(tmp_path) not in sys.path
    task = build_task(TaskConfig(kind="callable", name="endless_rows:rows", size=5, eval_size=3, kwargs={}))
    assert len(task.rows("train")) == 5 and len(task.rows("eval")) == 3
    assert str(tmp_path) not in sys.path


def test_created_files_and_directories_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        d = write_dir_atomically(tmp_path / "out", lambda t: (t / "a.txt").write_text("x"))
        m = tmp_path / "metrics.jsonl"
        m.write_text('{"step": 1}\n{"step": 2}\n')
        truncate_after(m, 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(d.stat().st_mode) == 0o750  # tempfile.mkdtemp alone gives 0o700
    assert stat.S_IMODE(m.stat().st_mode) == 0o640  # tempfile.mkstemp alone gives 0o600


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_dir_is_an_error(tmp_path):
    from credo.train.rundir import RunDirError, open_run_dir

    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunDirError, match="not writable"):
            open_run_dir(tmp_path / "run")
    finally:
        tmp_path.chmod(0o700)


def test_a_truncated_weights_file_is_named(tmp_path, tiny_policy, capsys):
    model, tok = tiny_policy
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    f = tmp_path / "m" / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    dims = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=4", "model.intermediate_size=128"]
    assert main(["eval", "grpo", "--model", str(tmp_path / "m"), *dims]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{f}: truncated" in err
