import json
import math
import sys
import time
import warnings

import pytest
import torch

from credo.train import metrics as metrics_mod
from credo.train.metrics import MetricsLogger, PhaseTimer, read_metrics, truncate_after


def _strict_rows(path):
    """Parse JSONL refusing NaN/Infinity tokens (Python's json accepts them by default)."""
    def reject(token):
        raise AssertionError(f"non-standard JSON constant {token}")
    return [json.loads(line, parse_constant=reject) for line in path.read_text().splitlines()]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def test_log_writes_valid_jsonl_rows(tmp_path):
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        log.log(1, {"reward/mean": 0.5, "n": 3})
        log.log(2, {"reward/mean": float("nan"), "actor/kl": float("inf"), "x": -math.inf})
        log.log(2, {"eval/accuracy": torch.tensor(0.25), "ok": True})
    assert _strict_rows(tmp_path / "metrics.jsonl") == [
        {"step": 1, "reward/mean": 0.5, "n": 3},
        {"step": 2, "reward/mean": None, "actor/kl": None, "x": None},
        {"step": 2, "eval/accuracy": 0.25, "ok": True},
    ]
    assert not (tmp_path / "tensorboard").exists()


def test_log_is_flushed_each_call_and_closed_by_context(tmp_path):
    log = MetricsLogger(tmp_path, tensorboard=False)
    log.log(7, {"a": 1.0})
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 7, "a": 1.0}]  # visible before close
    with pytest.raises(ValueError, match="step"):
        log.log(8, {"step": 3})
    log.close()
    log.close()  # idempotent
    assert log._file.closed


def test_appends_across_loggers(tmp_path):
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        log.log(1, {"a": 1})
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        log.log(2, {"a": 2})
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_read_metrics_skips_truncated_final_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "a": 1.0}\n{"step": 2, "a": 2.0}\n{"step": 3, "a"')
    with pytest.warns(UserWarning, match=r"metrics\.jsonl:3"):
        rows = read_metrics(path)
    assert rows == [{"step": 1, "a": 1.0}, {"step": 2, "a": 2.0}]


def test_read_metrics_raises_on_corrupt_middle_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write(path, ['{"step": 1, "a": 1.0}', '{"step": 2, "a": ', '{"step": 3, "a": 3.0}'])
    with pytest.raises(ValueError) as e:
        read_metrics(path)
    assert f"{path}:2" in str(e.value)


def test_read_metrics_rejects_row_without_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write(path, ['{"a": 1.0}', '{"step": 2}'])
    with pytest.raises(ValueError, match=r"metrics\.jsonl:1"):
        read_metrics(path)


def test_truncate_after(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        for s in range(1, 6):
            log.log(s, {"a": s / 10})
            if s % 2 == 0:
                log.log(s, {"eval/accuracy": s / 100})
    assert truncate_after(path, 3) == 3  # rows of step 4 (train + eval) and 5
    rows = read_metrics(path)
    assert [r["step"] for r in rows] == [1, 2, 2, 3]
    assert rows[2] == {"step": 2, "eval/accuracy": 0.02}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temp file left behind
    assert truncate_after(tmp_path / "missing.jsonl", 3) == 0
    assert not (tmp_path / "missing.jsonl").exists()


def test_resumed_run_file_equals_uninterrupted(tmp_path):
    def metrics(s):
        return {"reward/mean": s * 0.1, "loss": 1 / s, "nan": float("nan")}

    full, resumed = tmp_path / "full", tmp_path / "resumed"
    with MetricsLogger(full, tensorboard=False) as log:
        for s in range(1, 7):
            log.log(s, metrics(s))
    with MetricsLogger(resumed, tensorboard=False) as log:
        for s in range(1, 6):  # checkpoint at 3, then crashed mid-write of step 6
            log.log(s, metrics(s))
    with open(resumed / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "rew')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MetricsLogger(resumed, tensorboard=False, resume_step=3) as log:
            for s in range(4, 7):
                log.log(s, metrics(s))
    assert (resumed / "metrics.jsonl").read_bytes() == (full / "metrics.jsonl").read_bytes()


def test_partial_tail_is_repaired_before_appending(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "a')
    with pytest.warns(UserWarning, match="incomplete final line"):
        log = MetricsLogger(tmp_path, tensorboard=False)
    with log:
        log.log(3, {"a": 3})
    assert _strict_rows(path) == [{"step": 1}, {"step": 3, "a": 3}]
    path.write_text('{"step": 1}\n{"step": 2}')  # complete row missing only its newline is kept
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        log.log(3, {})
    assert _strict_rows(path) == [{"step": 1}, {"step": 2}, {"step": 3}]


def test_tensorboard_event_file(tmp_path):
    with MetricsLogger(tmp_path, tensorboard=True, config={"lr": 1e-6}) as log:
        log.log(1, {"reward/mean": 0.5, "bad": float("nan")})
        log.log(2, {"reward/mean": 0.75})
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("reward/mean")] == [(1, 0.5), (2, 0.75)]
    assert "bad" not in acc.Tags()["scalars"]  # null (non-finite) values are not sent


def test_missing_tensorboard_warns_once(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    monkeypatch.setattr(metrics_mod, "_tb_warned", False)
    with pytest.warns(UserWarning, match="TensorBoard") as record:
        for i in range(2):
            with MetricsLogger(tmp_path / str(i), tensorboard=True) as log:
                log.log(1, {"a": 1.0})
    assert sum("TensorBoard" in str(w.message) for w in record) == 1
    assert read_metrics(tmp_path / "1" / "metrics.jsonl") == [{"step": 1, "a": 1.0}]


def test_missing_wandb_raises_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install 'credo\[wandb\]'"):
        MetricsLogger(tmp_path, tensorboard=False, wandb=True)


def test_phase_timer_accumulates(monkeypatch):
    clock = iter([0.0, 1.0, 10.0, 10.5, 20.0, 22.0, 30.0, 30.25])
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    timer = PhaseTimer()
    with timer("generate"):
        pass
    with timer("train"):
        pass
    with timer("generate"):
        pass
    with pytest.raises(RuntimeError), timer("train"):  # time up to an exception still counts
        raise RuntimeError
    assert timer.pop() == {"timing/generate": 3.0, "timing/train": 0.75}
    assert timer.pop() == {}


def test_phase_timer_real_clock():
    timer = PhaseTimer()
    with timer("sleep"):
        time.sleep(0.02)
    assert 0.015 < timer.pop()["timing/sleep"] < 1.0
