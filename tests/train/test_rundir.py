"""One run per run folder: lock, resume/overwrite rules, orphaned temp directories, real kills around the first
checkpoint write."""

import os
import subprocess
import sys
import textwrap

import pytest

from credo.config import load_config
from credo.train.checkpoint import list_checkpoints
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer
from credo.train.rundir import LOCK_FILE, RunDirError, open_run_dir

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=32", "task.eval_size=4", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
         "eval.size=2", "eval.pass_k=0", "eval.every=0", "sft.steps=0", "log.tensorboard=false", "log.progress=false",
         "train.threads=1"]


def cfg_for(out, *extra):
    return load_config(None, SMALL + ["train.steps=2", "log.save_every=1", f"log.output_dir={out}", *extra])


def test_a_second_run_on_a_locked_folder_is_refused_with_the_holders_pid(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from credo.train.rundir import open_run_dir
        lock, _ = open_run_dir(sys.argv[1])
        print("locked", flush=True)
        time.sleep(60)
        """), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match=rf"in use by another run \(pid {holder.pid}\)"):
            RLTrainer(cfg_for(run))
        with pytest.raises(RunDirError, match=f"pid {holder.pid}"):  # --overwrite does not break a live lock
            RLTrainer(cfg_for(run), overwrite=True)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # the refused runs wrote nothing
    RLTrainer(cfg_for(run))  # the dead holder's lock is taken over
    assert (run / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_fresh_run_on_a_used_folder_needs_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    RLTrainer(cfg_for(run)).run()
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(RunDirError, match="already holds a run .*--resume.*--overwrite"):
        RLTrainer(cfg_for(run))
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    tr = RLTrainer(cfg_for(run, "train.steps=3"), overwrite=True)
    assert list_checkpoints(run) == [] and read_metrics(run / "metrics.jsonl") == []
    tr.run()
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [0, 1, 2, 3, 3]  # no rows of the old run
    with pytest.raises(RunDirError, match="exclude each other"):
        RLTrainer(cfg_for(run), resume=True, overwrite=True)


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a credo run folder"):
        open_run_dir(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_output_dir_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="is a file"):
        open_run_dir(tmp_path / "f" / "run")


KILLED = textwrap.dedent("""
    import os, signal, sys
    import torch
    from credo.config import load_config
    import credo.train.checkpoint as ck
    from credo.train.rl import RLTrainer

    torch.set_num_threads(1)
    mode, out, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "before":  # killed as the first checkpoint is about to be written
        RLTrainer.save = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    else:  # killed inside the first checkpoint write: weights and state are in the temp dir, not yet renamed
        real = ck.save_state
        def dying(path, obj):
            real(path, obj)
            os.kill(os.getpid(), signal.SIGKILL)
        ck.save_state = dying
    RLTrainer(load_config(None, keys + [f"log.output_dir={out}"])).run()
""")


@pytest.mark.slow  # two subprocesses that import torch and transformers (~25 s on two shared cores)
def test_kills_before_and_during_the_first_checkpoint_write(tmp_path):
    keys = SMALL + ["train.steps=2", "log.save_every=1"]
    procs = {mode: subprocess.Popen([sys.executable, "-c", KILLED, mode, str(tmp_path / mode), *keys],
                                    stderr=subprocess.PIPE) for mode in ("before", "during")}
    for mode, p in procs.items():
        p.wait(timeout=120)
        assert p.returncode == -9, (mode, p.stderr.read().decode()[-2000:])
    for mode, p in procs.items():
        run = tmp_path / mode
        assert (run / LOCK_FILE).read_text().strip() == str(p.pid)  # a dead process's lock
        orphans = list((run / "checkpoints").glob(".step_000001-*")) if mode == "during" else []
        assert len(orphans) == (mode == "during")
        assert list_checkpoints(run) == []  # a killed write never leaves a step_N directory
        with pytest.raises(RunDirError, match="--resume: no checkpoint .* --overwrite"):
            RLTrainer(cfg_for(run), resume=True)
        assert not any(o.exists() for o in orphans)  # removed on the next start
        with pytest.raises(RunDirError, match="already holds a run"):
            RLTrainer(cfg_for(run))
        RLTrainer(cfg_for(run), overwrite=True).run()
        assert [s for s, _ in list_checkpoints(run)] == [1, 2]
        assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [0, 1, 2, 2]


def test_temp_leftovers_of_killed_writes_are_removed_on_the_next_start(tmp_path):
    run = tmp_path / "run"
    leftovers = [run / "checkpoints" / ".step_000004-ab12cd_9", run / ".reference-zz99xx00",
                 run / "agents" / ".solver-k3j4h5g6"]
    keep = [run / "checkpoints" / "step_000002" / "trainer", run / ".hidden", run / "agents" / "solver"]
    for p in leftovers + keep:
        p.mkdir(parents=True)
    (keep[0] / "state.json").write_text("{}")
    (run / "metrics.jsonl.x1y2.tmp").write_text("{}")
    _, ckpt = open_run_dir(run, resume=True)
    assert ckpt == run / "checkpoints" / "step_000002"
    assert not any(p.exists() for p in leftovers) and not (run / "metrics.jsonl.x1y2.tmp").exists()
    assert all(p.is_dir() for p in keep)
