"""Reward functions as plain Python callables (TRL's convention), weighted, checked and logged one by one.

A reward function is ``f(prompts: list[str], completions: list[str], **fields) -> list[float | None]``: one value per
completion; ``fields`` are the rows' columns as lists (one value per completion, e.g. ``answer=[...]``). It is
called once per batch. Values are not clamped. A function that raises, returns the wrong length, a non-number, NaN,
inf or None is a :class:`RewardError` naming the function and the row, unless ``reward.on_invalid = "skip"``, which
turns NaN / inf / None (never a string or an exception) into an explicit skip: the sample leaves the batch and is
counted as ``reward/skipped``.

``REWARD_FUNCTIONS`` holds factories ``make(task, **kwargs) -> reward function`` for the built-ins: ``verifier``
(the task's verifier score), ``format`` (1 when the answer format is present), ``length`` (a length penalty or
target), ``correct_and_concise`` (a multi-objective example) and ``judge`` (an LLM judge, credo.judge.reward).
``reward.functions`` entries name one of these or ``module:function`` (a TRL-style function; ``kwargs`` are bound
to it).
"""

from __future__ import annotations

import functools
import importlib
import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from credo.registry import Registry
from credo.tasks.base import RewardError, Verdict, check_score, describe_row
from credo.trajectory import Trajectory

RewardFunc = Callable[..., Sequence[Any]]
REWARD_FUNCTIONS = Registry("reward function", "make(task, **kwargs) -> f(prompts, completions, **fields) -> list")
ON_INVALID = ("error", "skip")
RESERVED = ("score", "noise", "overlong")  # keys of Trajectory.rewards written by other stages


def rows_from_fields(n: int, fields: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Invert the column layout: ``fields`` (column -> list of n values) -> n row dicts."""
    return [{k: v[i] for k, v in fields.items()} for i in range(n)]


class VerifierReward:
    """The task's verifier score of each completion (``task.verify(row, completion).score``, in [0, 1])."""

    __name__ = "verifier"

    def __init__(self, task: Any):
        self.task = task

    def verdicts(self, rows: list[dict[str, Any]], completions: list[str]) -> list[Verdict]:
        return [self.task.verify(r, c) for r, c in zip(rows, completions)]

    def __call__(self, prompts: list[str], completions: list[str], **fields: list[Any]) -> list[float]:
        return [v.score for v in self.verdicts(rows_from_fields(len(completions), fields), completions)]


@REWARD_FUNCTIONS.register("verifier")
def make_verifier(task: Any) -> VerifierReward:
    return VerifierReward(task)


@REWARD_FUNCTIONS.register("format")
def make_format(task: Any, pattern: str = "", value: float = 1.0) -> RewardFunc:
    """``value`` when the completion has the answer format, else 0: ``pattern`` (a regex searched in the completion,
    multi-line) when given, otherwise whether the task's answer extractor (``task.extract``) finds an answer."""
    regex = re.compile(pattern, re.MULTILINE) if pattern else None

    def format_reward(prompts: list[str], completions: list[str], **fields: list[Any]) -> list[float]:
        if regex is not None:
            return [value if regex.search(c) else 0.0 for c in completions]
        rows = rows_from_fields(len(completions), fields)
        return [value if task.extract(r, c) else 0.0 for r, c in zip(rows, completions)]

    return format_reward


@REWARD_FUNCTIONS.register("length")
def make_length(task: Any, target: int = 0, scale: float = 0.001) -> RewardFunc:
    """``-scale * |characters - target|``: a penalty on length (``target = 0``) or on the distance to a target."""

    def length_reward(prompts: list[str], completions: list[str], **fields: list[Any]) -> list[float]:
        return [-scale * abs(len(c) - target) for c in completions]

    return length_reward


@REWARD_FUNCTIONS.register("correct_and_concise")
def make_correct_and_concise(task: Any, budget: int = 400) -> RewardFunc:
    """Two objectives in one reward: ``score * min(1, budget / characters)``: a correct answer earns 1 within
    ``budget`` characters and less the longer it runs past it; a wrong one earns 0."""
    verifier = VerifierReward(task)

    def correct_and_concise(prompts: list[str], completions: list[str], **fields: list[Any]) -> list[float]:
        scores = verifier(prompts, completions, **fields)
        return [s * min(1.0, budget / max(len(c), 1)) for s, c in zip(scores, completions)]

    return correct_and_concise


@REWARD_FUNCTIONS.register("judge")
def make_judge(task: Any, **kwargs: Any) -> RewardFunc:
    """An LLM judge (CDRRM): pairwise against the row's reference answer or pointwise on its rubric; batched and
    cached. Keyword arguments: :func:`credo.judge.reward.make_judge_reward`."""
    from credo.judge.reward import make_judge_reward

    return make_judge_reward(task, **kwargs)


def import_function(spec: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function; RewardError naming the path on failure."""
    mod_name, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), attr, None)
    except ImportError as e:
        raise RewardError(f"reward function {spec!r}: cannot import module {mod_name!r}: {e}") from e
    if not callable(fn):
        raise RewardError(f"reward function {spec!r}: module {mod_name!r} has no callable {attr!r}")
    return fn


@dataclass
class RewardEntry:
    name: str  # key in Trajectory.rewards and in the metrics (reward/<name>_mean)
    fn: RewardFunc
    weight: float = 1.0


def make_entry(spec: Any, task: Any, where: str) -> tuple[str, RewardFunc, float]:
    """A ``reward.functions`` item (mapping ``{name, weight, kwargs}``, a bare name, or a callable) -> (name, fn,
    weight)."""
    if callable(spec):
        return getattr(spec, "__name__", type(spec).__name__), spec, 1.0
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise RewardError(f"{where}: expected a mapping {{name, weight, kwargs}}, got {spec!r}")
    extra = set(spec) - {"name", "weight", "kwargs"}
    if extra:
        raise RewardError(f"{where}: unknown keys {sorted(extra)} (allowed: name, weight, kwargs)")
    name, weight, kwargs = spec["name"], spec.get("weight", 1.0), spec.get("kwargs") or {}
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight):
        raise RewardError(f"{where}: weight must be a finite number, got {weight!r}")
    if not isinstance(kwargs, dict):
        raise RewardError(f"{where}: kwargs must be a mapping, got {kwargs!r}")
    if name in REWARD_FUNCTIONS:
        try:
            return name, REWARD_FUNCTIONS.get(name)(task, **kwargs), float(weight)
        except TypeError as e:
            raise RewardError(f"{where}: reward function {name!r} does not take kwargs {kwargs}: {e}") from e
    if ":" not in name:
        raise RewardError(f"{where}: unknown reward function {name!r}; use one of {REWARD_FUNCTIONS.names()} "
                          "or 'module:function'")
    fn = import_function(name)
    label = name.rpartition(":")[2]
    return label, (functools.partial(fn, **kwargs) if kwargs else fn), float(weight)


def build_reward_set(reward_cfg: Any, task: Any, funcs: Sequence[Any] | None = None,
                     weights: Sequence[float] | None = None) -> RewardSet:
    """The reward of a run: ``reward_cfg.functions`` (``{name, weight, kwargs}`` mappings) plus ``funcs`` (Python
    callables, named by ``__name__``, or registered names; weighted by ``weights``, default 1 each). With neither,
    the task's verifier alone. Duplicate names get a ``_2``, ``_3``... suffix."""
    on_invalid = getattr(reward_cfg, "on_invalid", "error")
    if on_invalid not in ON_INVALID:
        raise RewardError(f"reward.on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    specs = list(getattr(reward_cfg, "functions", None) or [])
    if not isinstance(specs, list):
        raise RewardError(f"reward.functions must be a list of mappings, got {specs!r}")
    funcs = list(funcs or [])
    if weights is not None and len(weights) != len(funcs):
        raise RewardError(f"{len(weights)} reward weights for {len(funcs)} reward functions")
    made = [make_entry(s, task, f"reward.functions[{i}]") for i, s in enumerate(specs)]
    for i, fn in enumerate(funcs):
        name, fn, w = make_entry(fn, task, f"reward function #{i}")
        made.append((name, fn, float(weights[i]) if weights is not None else w))
    if not made:
        made = [("verifier", VerifierReward(task), 1.0)]
    entries: list[RewardEntry] = []
    for name, fn, w in made:
        if name in RESERVED:
            raise RewardError(f"reward function name {name!r} is reserved ({RESERVED}); rename the function")
        taken = {e.name for e in entries}
        label, k = name, 2
        while label in taken:
            label, k = f"{name}_{k}", k + 1
        entries.append(RewardEntry(label, fn, w))
    if any(isinstance(e.fn, VerifierReward) for e in entries) and not getattr(task, "has_answers", True):
        raise RewardError(f"task {getattr(task, 'name', task)!r} has no gold answers, so the 'verifier' reward cannot "
                          "score it; list other reward functions in reward.functions")
    return RewardSet(entries, task, on_invalid)


@dataclass
class RewardSet:
    """Weighted reward functions over one task. ``score`` writes ``t.rewards[name]`` for each function,
    ``t.rewards["score"]`` (the verifier score, when the rows have gold answers), ``t.reward`` (the weighted sum)
    and returns metrics; they are also summed until :meth:`pop_metrics` (several calls per training step)."""

    entries: list[RewardEntry]
    task: Any
    on_invalid: str = "error"
    _acc: dict[str, list[float]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def score(self, trajectories: Sequence[Trajectory], rows: Sequence[dict[str, Any]],
              accumulate: bool = True) -> dict[str, float]:
        """``rows``: one per trajectory, or one per prompt with each prompt's trajectories consecutive. Skipped
        samples (``on_invalid="skip"``) get ``info["reward_skipped"]``, a zero loss mask and ``reward = nan``."""
        trajs, n = list(trajectories), len(trajectories)
        if n == 0:
            return {}
        if not rows or n % len(rows):
            raise ValueError(f"{n} trajectories do not divide into {len(rows)} rows")
        g = n // len(rows)
        per_row = [rows[i // g] for i in range(n)]
        prompts = [t.prompt_text or self.task.prompt(r) for t, r in zip(trajs, per_row)]
        completions = [t.response_text for t in trajs]
        keys = dict.fromkeys(k for r in per_row for k in r if k not in ("prompts", "completions"))
        fields = {k: [r.get(k) for r in per_row] for k in keys}
        verdicts = None
        if getattr(self.task, "has_answers", True) and all(r.get("answer") is not None for r in per_row):
            verdicts = [self.task.verify(r, c) for r, c in zip(per_row, completions)]
            for t, v in zip(trajs, verdicts):
                t.rewards["score"], t.info["verdict"] = v.score, v.details
        skipped: set[int] = set()
        values: dict[str, list[float]] = {}
        for e in self.entries:
            if isinstance(e.fn, VerifierReward) and verdicts is not None:
                out: Any = [v.score for v in verdicts]
            else:
                out = self._call(e, prompts, completions, fields, g)
            values[e.name] = self._check(e.name, out, prompts, skipped, g)
        for i, t in enumerate(trajs):
            for name, vals in values.items():
                t.rewards[name] = vals[i]
            if i in skipped:
                t.reward, t.loss_mask = math.nan, t.loss_mask.new_zeros(t.loss_mask.shape)
                t.info["reward_skipped"] = [k for k, v in values.items() if not math.isfinite(v[i])]
            else:
                t.reward = sum(e.weight * values[e.name][i] for e in self.entries)
        kept = [i for i in range(n) if i not in skipped]
        sums = {f"reward/{k}_mean": [sum(v[i] for i in kept), float(len(kept))] for k, v in values.items()}
        sums["reward/skipped"] = [float(len(skipped)), 0.0]
        if accumulate:
            for k, (s, c) in sums.items():
                acc = self._acc.setdefault(k, [0.0, 0.0])
                acc[0], acc[1] = acc[0] + s, acc[1] + c
        return self._finish(sums)

    def pop_metrics(self) -> dict[str, float]:
        """Metrics summed over the ``score`` calls since the last pop (means per function, skipped count)."""
        out, self._acc = self._finish(self._acc), {}
        return out

    @staticmethod
    def _finish(sums: dict[str, list[float]]) -> dict[str, float]:
        return {k: s if k == "reward/skipped" else (s / c if c else math.nan) for k, (s, c) in sums.items()}

    @staticmethod
    def where(prompts: list[str], i: int, g: int) -> str:
        """Completion ``i`` named for an error: its prompt's index in the batch and an excerpt."""
        return f"prompt {i // g} (completion {i}, {describe_row(prompts[i])})"

    def _call(self, e: RewardEntry, prompts: list[str], completions: list[str], fields: dict[str, list],
              g: int) -> Any:
        try:
            return e.fn(prompts, completions, **fields)
        except RewardError:
            raise
        except Exception as err:  # noqa: BLE001 - a user function's bug: find the row it fails on
            bad = "the batch"
            for i in range(len(prompts)):
                try:
                    e.fn(prompts[i:i + 1], completions[i:i + 1], **{k: v[i:i + 1] for k, v in fields.items()})
                except Exception:  # noqa: BLE001
                    bad = self.where(prompts, i, g)
                    break
            raise RewardError(f"reward function {e.name!r} raised {err!r} on {bad}") from err

    def _check(self, name: str, out: Any, prompts: list[str], skipped: set[int], g: int) -> list[float]:
        n = len(prompts)
        if isinstance(out, str | bytes | dict) or not hasattr(out, "__len__"):
            raise RewardError(f"reward function {name!r} returned {type(out).__name__}, expected a list of {n} numbers")
        out = list(out)
        if len(out) != n:
            raise RewardError(f"reward function {name!r} returned {len(out)} values for {n} completions")
        vals = []
        for i, v in enumerate(out):
            invalid = v is None or (isinstance(v, numbers.Real) and not math.isfinite(float(v)))
            if invalid and self.on_invalid == "skip":
                skipped.add(i)
                vals.append(math.nan)
                continue
            vals.append(check_score(v, f"reward function {name!r} on {self.where(prompts, i, g)}"))
        return vals
