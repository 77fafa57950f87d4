"""One run per run folder: a lock, and explicit ``resume`` / ``overwrite`` for a folder that already holds a run.

``open_run_dir(path, resume, overwrite, find_checkpoint)`` is called by every trainer before it writes anything:

- the folder must be a directory we can write (a file, or a read-only folder, is a ``RunDirError``);
- ``run.lock`` is locked (``fcntl.flock``) for the life of the run and holds its pid; a second run on the folder is
  refused naming that pid; the lock of a dead process is released by the OS and simply taken over. A lock taken
  again by the same process (a notebook re-creating a trainer) replaces its old one;
- temp directories left by a write that was killed (``.step_000010-x1y2z3ab`` ...) are removed;
- ``resume`` needs a checkpoint (else: say so and point to ``--overwrite``); a fresh run needs an empty folder unless
  ``overwrite``, which empties it first (only a folder that looks like a credo run folder is ever emptied).
"""

from __future__ import annotations

import os
import re
import shutil
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOCK_FILE = "run.lock"
RUN_MARKERS = (LOCK_FILE, "metrics.jsonl", "config.yaml", "checkpoints")
_TEMP = re.compile(r"^\.[^.].*-[a-z0-9_]{8}$")  # tempfile.mkdtemp(prefix=".<name>-") in write_dir_atomically
_TEMP_FILE = re.compile(r"^metrics\.jsonl\..+\.tmp$")  # tempfile.mkstemp in credo.train.metrics.truncate_after
_HELD: weakref.WeakValueDictionary[str, RunLock] = weakref.WeakValueDictionary()


class RunDirError(ValueError):
    """A run folder that is in use, not writable, not empty for a fresh run, or has nothing to resume."""


class RunLock:
    """An exclusive lock on ``<run>/run.lock`` held until :meth:`release` (or the process ends)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.key = str(self.path.resolve())
        self._fd: int | None = None
        old = _HELD.pop(self.key, None)
        if old is not None:
            old.release()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _lock(fd, self.path)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        _HELD[self.key] = self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock; the file stays as the folder's marker
            self._fd = None
            if _HELD.get(self.key) is self:
                del _HELD[self.key]

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter shutdown module globals (os) may already be gone
            pass


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: fall back to the recorded pid
        pid = _holder(path)
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            raise RunDirError(f"{path.parent}: in use by another run (pid {pid}); wait for it or choose another "
                              "log.output_dir") from None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise RunDirError(f"{path.parent}: in use by another run (pid {_holder(path)}); wait for it or choose "
                          "another log.output_dir") from None


def _alive(pid: int) -> bool:  # pragma: no cover - used without fcntl only
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def respect_umask(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``mkdir``/``open`` would have (0o777/0o666 less the umask): ``tempfile``
    creates 0o700 directories and 0o600 files, which would otherwise end up as the run's files after a rename."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~mask)


def remove_orphans(run_dir: Path) -> list[Path]:
    """Delete the temp directories (and metrics temp files) of killed atomic writes under ``run_dir`` (and its
    checkpoints/ and agents/); returns what was removed."""
    gone = []
    for d in (run_dir, run_dir / "checkpoints", run_dir / "agents"):
        if d.is_dir():
            for p in d.iterdir():
                if p.is_dir() and not p.is_symlink() and _TEMP.match(p.name):
                    shutil.rmtree(p, ignore_errors=True)
                    gone.append(p)
                elif d == run_dir and p.is_file() and _TEMP_FILE.match(p.name):
                    p.unlink()
                    gone.append(p)
    return gone


def check_writable(run_dir: Path) -> None:
    """A ``RunDirError`` unless ``run_dir`` is (or can be created as) a writable directory."""
    for p in [run_dir, *run_dir.parents]:
        if p.exists():
            if not p.is_dir():
                raise RunDirError(f"log.output_dir {run_dir}: {p} is a file, not a directory")
            if not os.access(p, os.W_OK | os.X_OK):
                raise RunDirError(f"log.output_dir {run_dir}: {p} is not writable")
            return


def open_run_dir(run_dir: str | Path, resume: bool = False, overwrite: bool = False,
                 find_checkpoint: Callable[[Path], Any] | None = None) -> tuple[RunLock, Any]:
    """Claim ``run_dir`` for one run -> (the held lock, the checkpoint to resume from or None).

    ``find_checkpoint(run_dir)`` returns the latest checkpoint or None (default: ``latest_checkpoint``).
    Raises ``RunDirError`` (nothing in the folder changed) when the run may not start.
    """
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite exclude each other")
    if find_checkpoint is None:
        from credo.train.checkpoint import latest_checkpoint as find_checkpoint
    run_dir = Path(run_dir)
    check_writable(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    had_lock = (run_dir / LOCK_FILE).exists()
    lock = RunLock(run_dir)
    try:
        remove_orphans(run_dir)
        entries = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
        ckpt = None
        if resume:
            ckpt = find_checkpoint(run_dir)
            if ckpt is None:
                raise RunDirError(f"--resume: no checkpoint in {run_dir / 'checkpoints'} to resume from; start a "
                                  "fresh run with --overwrite (deletes the folder's contents) or choose another "
                                  "log.output_dir")
        elif entries and not overwrite:
            names = sorted(p.name for p in entries)
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise RunDirError(f"log.output_dir {run_dir} already holds a run ({shown}); continue it with --resume, "
                              "replace it with --overwrite, or choose another log.output_dir")
        elif entries:
            if not had_lock and not any((run_dir / m).exists() for m in RUN_MARKERS if m != LOCK_FILE):
                raise RunDirError(f"--overwrite: {run_dir} is not a credo run folder (none of {list(RUN_MARKERS)}); "
                                  "refusing to delete its files; choose another log.output_dir")
            for p in entries:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    except BaseException:
        lock.release()
        if not had_lock:  # leave the folder as it was
            lock.path.unlink(missing_ok=True)
        raise
    return lock, ckpt
