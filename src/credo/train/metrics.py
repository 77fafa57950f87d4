"""Run metrics: an append-only ``metrics.jsonl`` (the source of truth), mirrored to TensorBoard and optionally W&B.

Each ``MetricsLogger.log(step, metrics)`` call appends one JSON line ``{"step": step, **metrics}`` and flushes it, so a
killed run loses at most the line being written. ``read_metrics`` tolerates exactly that (a corrupt *last* line) and
refuses anything worse. On resume, ``truncate_after(path, step)`` drops rows logged after the checkpoint so the resumed
run's file is identical to that of an uninterrupted run. ``PhaseTimer`` accumulates wall time per phase of a step and
hands it back as ``timing/<phase>`` metrics.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from credo.train.rundir import respect_umask

METRICS_FILE = "metrics.jsonl"
_tb_warned = False


def _clean(value: Any) -> Any:
    """JSON-safe scalar: numpy/torch scalars become Python numbers, non-finite floats become ``None``."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if hasattr(value, "item"):  # numpy / torch scalar
        return _clean(value.item())
    value = float(value)
    return value if math.isfinite(value) else None


def _dumps(row: Mapping[str, Any]) -> str:
    return json.dumps(row, allow_nan=False, separators=(", ", ": "))


def _repair_tail(path: Path) -> None:
    """Cut a partial final line (a process killed mid-write) so appending after it keeps the file valid."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
        except ValueError:
            warnings.warn(f"{path}: dropping incomplete final line {data[cut:][:80]!r}", stacklevel=3)
            with open(path, "r+b") as f:
                f.truncate(cut)
        else:  # a complete row that merely lacks its newline
            with open(path, "ab") as f:
                f.write(b"\n")


class MetricsLogger:
    """Log scalar metrics per step to ``output_dir/metrics.jsonl``, TensorBoard and (optionally) Weights & Biases.

    ``resume_step``: when resuming from a checkpoint taken at that step, rows with a larger step are dropped from the
    JSONL file (see :func:`truncate_after`) and TensorBoard events after it are purged.
    """

    def __init__(self, output_dir: Path, tensorboard: bool = True, wandb: bool = False,
                 config: dict | None = None, *, resume_step: int | None = None) -> None:
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / METRICS_FILE
        if resume_step is not None:
            truncate_after(self.path, resume_step)
        _repair_tail(self.path)
        self._wandb_run = None
        if wandb:  # first, so a missing package fails before any file is opened
            try:
                import wandb as wandb_mod
            except ImportError as e:
                raise ImportError("W&B logging was requested but `wandb` is not installed; "
                                  "run `pip install 'credo[wandb]'` or disable wandb.") from e
            self._wandb_run = wandb_mod.init(project=os.environ.get("WANDB_PROJECT", "credo"),
                                             name=self.output_dir.name, dir=str(self.output_dir), config=config)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            self._tb = _summary_writer(self.output_dir / "tensorboard",
                                       None if resume_step is None else resume_step + 1)
            if self._tb is not None and config:
                self._tb.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def log(self, step: int, metrics: Mapping[str, float | int]) -> None:
        if "step" in metrics:
            raise ValueError("metrics must not contain a 'step' key; pass the step as the first argument")
        row = {"step": int(step), **{str(k): _clean(v) for k, v in metrics.items()}}
        self._file.write(_dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, int | float):
                    self._tb.add_scalar(k, float(v), int(step))
        if self._wandb_run is not None:
            self._wandb_run.log({k: v for k, v in row.items() if k != "step"}, step=int(step))

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    global _tb_warned
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch without the tensorboard package
        if not _tb_warned:
            warnings.warn(f"TensorBoard logging disabled ({e}); metrics still go to {METRICS_FILE}", stacklevel=3)
            _tb_warned = True
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics JSONL file. A corrupt final line (killed writer) is skipped with a warning; a corrupt line
    anywhere else raises ``ValueError`` naming ``file:line``."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise ValueError("expected a JSON object with an integer 'step'")
        except ValueError as e:
            if i == last:
                warnings.warn(f"{path}:{i + 1}: skipping corrupt final line (interrupted write?): {e}", stacklevel=2)
                continue
            raise ValueError(f"{path}:{i + 1}: corrupt metrics line: {e}: {line[:120]!r}") from e
        rows.append(row)
    return rows


def truncate_after(path: Path, step: int) -> int:
    """Drop rows with ``step > step`` (and a corrupt final line) from a metrics file, atomically; returns rows dropped.

    A missing file is left missing (returns 0)."""
    path = Path(path)
    if not path.exists():
        return 0
    rows = read_metrics(path)
    keep = [r for r in rows if r["step"] <= step]
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        respect_umask(tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(_dumps(r) + "\n" for r in keep)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows) - len(keep)


class TrainingError(RuntimeError):
    """A run that cannot have learned anything (every optimizer update skipped)."""


class UpdateCounter:
    """Sums ``*actor/updates`` and ``*actor/skipped_updates`` over a run's step metrics; :meth:`check` raises when
    there were updates and every one of them was skipped (non-finite gradients: the policy never changed)."""

    def __init__(self) -> None:
        self.updates = self.skipped = 0.0

    def add(self, metrics: Mapping[str, Any]) -> None:
        for k, v in metrics.items():
            if k.endswith("actor/updates"):
                self.updates += float(v)
            elif k.endswith("actor/skipped_updates"):
                self.skipped += float(v)

    def check(self, where: Any = "") -> None:
        if self.updates > 0 and self.skipped >= self.updates:
            raise TrainingError(f"{where}: every one of the {int(self.updates)} optimizer updates was skipped "
                                "(non-finite loss or gradient); the policy did not change. Check sampling.temperature, "
                                "train.lr and model.dtype")


class PhaseTimer:
    """Accumulate wall-clock seconds per phase: ``with timer("generate"): ...``; ``timer.pop()`` returns
    ``{"timing/generate": seconds, ...}`` and resets. Re-entering a phase adds to its total."""

    def __init__(self) -> None:
        self._totals: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._totals[phase] = self._totals.get(phase, 0.0) + time.perf_counter() - start

    def pop(self) -> dict[str, float]:
        out = {f"timing/{k}": v for k, v in self._totals.items()}
        self._totals.clear()
        return out


def last_eval_metrics(path: Path) -> dict[str, float]:
    """The ``eval/*`` metrics of the last evaluation logged in a metrics JSONL file ({} when none or no file)."""
    path = Path(path)
    if not path.exists():
        return {}
    for row in reversed(read_metrics(path)):
        evals = {k: v for k, v in row.items() if k.startswith("eval/")}
        if evals:
            return evals
    return {}
