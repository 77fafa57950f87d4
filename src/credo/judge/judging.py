"""Judging pairs: the rubric judge (P4 grammar, ``Winner: A|B``), the direct judge and the one-step rubric baseline,
and the evaluation of a judge on preference pairs with A/B swapping.

Modes of :func:`evaluate`: ``cdrrm`` (a rubric from the pair-conditional generator, then the rubric judge),
``one_step`` (a rubric written from the pair in one call, no profiling; then the rubric judge) and ``direct`` (no
rubric). A reply without a ``Winner:`` line counts as wrong, and the parse-failure rate is reported.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from credo.judge.clients import ChatClient, Sampling, user
from credo.judge.extract import ParseStats, ask_json, parse_winner
from credo.judge.pipeline import generator_prompt
from credo.judge.prompts import DIRECT, JUDGE, ONE_STEP, fill
from credo.judge.schemas import Rubric
from credo.rewards.pairs import Pair

MODES = ("cdrrm", "one_step", "direct")
Item = tuple[str, str, str, str | None]  # (instruction, response A, response B, rubric text or None)


def judge_prompt(instruction: str, response_a: str, response_b: str, rubric: str | None) -> str:
    if rubric is None:
        return fill(DIRECT, instruction=instruction, response_a=response_a, response_b=response_b)
    return fill(JUDGE, instruction=instruction, rubric=rubric, response_a=response_a, response_b=response_b)


def judge_pairs(client: ChatClient, items: list[Item], sampling: Sampling | None = None) -> tuple[list[str | None],
                                                                                                   ParseStats]:
    """Winner ("A", "B" or None when unparseable) per item, in one batch."""
    replies = client.chat([user(judge_prompt(*it)) for it in items], sampling or Sampling())
    winners = [parse_winner(r) for r in replies]
    return winners, ParseStats(requests=len(items), failed=winners.count(None), calls=len(items))


def write_rubrics(client: ChatClient, items: list[tuple[str, str, str]], mode: str, sampling: Sampling | None = None,
                  retries: int = 2) -> tuple[list[Rubric | None], ParseStats]:
    """Rubrics for (instruction, A, B) triples: ``cdrrm`` through the generator prompt, ``one_step`` in one call."""
    template = {"cdrrm": None, "one_step": ONE_STEP}[mode]
    prompts = [generator_prompt(*it) if template is None else
               fill(template, instruction=it[0], response_a=it[1], response_b=it[2]) for it in items]
    return ask_json(client, prompts, Rubric, sampling, retries)


@dataclass
class Evaluation:
    mode: str
    n: int
    correct: int  # parse failures count as wrong
    judge_stats: ParseStats
    rubric_stats: ParseStats | None
    winners: list[str | None]
    gold: list[str]

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def to_dict(self) -> dict:
        out = {"mode": self.mode, "n": self.n, "correct": self.correct, "accuracy": self.accuracy,
               **self.judge_stats.to_dict("judge/")}
        if self.rubric_stats is not None:
            out.update(self.rubric_stats.to_dict("rubric/"))
        return out


def place(pairs: list[Pair], seed: int | None, swap: bool = False) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(instruction, A, B) triples and the gold slot: chosen in a seeded random slot (``seed=None``: always A);
    ``swap`` mirrors every pair."""
    rng = random.Random(seed)
    gold = ["A" if seed is None else rng.choice("AB") for _ in pairs]
    if swap:
        gold = ["B" if g == "A" else "A" for g in gold]
    triples = [(p.prompt, p.chosen, p.rejected) if g == "A" else (p.prompt, p.rejected, p.chosen)
               for p, g in zip(pairs, gold)]
    return triples, gold


def evaluate(judge: ChatClient, pairs: list[Pair], mode: str = "direct", generator: ChatClient | None = None,
             seed: int | None = 0, swap: bool = False, sampling: Sampling | None = None,
             rubric_sampling: Sampling | None = None) -> Evaluation:
    """Accuracy of a judge (mode in MODES) on pairs; ``generator`` writes the rubrics (default: the judge)."""
    if mode not in MODES:
        raise ValueError(f"judge mode must be one of {MODES}, got {mode!r}")
    triples, gold = place(pairs, seed, swap)
    rubric_stats = None
    rubrics: list[str | None] = [None] * len(triples)
    if mode != "direct":
        made, rubric_stats = write_rubrics(generator or judge, triples, mode, rubric_sampling)
        rubrics = [r.render() if r is not None else "(no rubric: the rubric could not be parsed)" for r in made]
    winners, stats = judge_pairs(judge, [(*t, r) for t, r in zip(triples, rubrics)], sampling)
    correct = sum(w == g for w, g in zip(winners, gold))
    return Evaluation(mode, len(pairs), correct, stats, rubric_stats, winners, gold)
