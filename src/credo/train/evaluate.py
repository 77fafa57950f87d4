"""Held-out evaluation: greedy accuracy, pass@k by sampling, mean response length."""

from __future__ import annotations

import torch

from credo.config import EvalConfig, SamplingConfig
from credo.tasks import encode_task_prompt
from credo.tasks.base import Task


def evaluate(engine, tokenizer, task: Task, rows: list[dict], sampling: SamplingConfig, cfg: EvalConfig,
             chat_template: bool = True, seed: int = 0, rewards=None) -> dict[str, float]:
    """Metrics under ``eval/``: greedy ``accuracy`` (share of responses scoring 1), greedy ``score_mean`` (mean
    verifier score; differs from accuracy on tasks with partial credit), ``pass@k`` and ``sampled_accuracy``
    (pass@1 at the sampling temperature), ``length_mean``, and with a :class:`~credo.rewards.RewardSet` the greedy
    ``reward_mean`` (the weighted reward; skipped samples left out). Tasks without gold answers
    (``task.has_answers`` False) get no accuracy metrics. Sampling runs under its own seed, so evaluating never
    shifts the training random stream (a resumed run evaluates identically)."""
    rows = rows[: cfg.size]
    if not rows:
        return {}
    correct, score, lengths, passed, sampled, reward, rewarded = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0
    verifies = getattr(task, "has_answers", True)
    k = cfg.pass_k if verifies else 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(rows), cfg.batch_size):
            chunk = rows[i:i + cfg.batch_size]
            prompts = [encode_task_prompt(tokenizer, task, r, chat_template) for r in chunk]
            greedy = engine.generate(prompts, 1, sampling, greedy=True)
            if rewards is not None:  # also writes the verifier score to t.rewards["score"]
                rewards.score(greedy, chunk, accumulate=False)
                kept = [t.reward for t in greedy if "reward_skipped" not in t.info]
                reward, rewarded = reward + sum(kept), rewarded + len(kept)
            for r, t in zip(chunk, greedy):
                if verifies:
                    s = t.rewards["score"] if "score" in t.rewards else task.verify(r, t.response_text).score
                    correct, score = correct + (s >= 1.0), score + s
                lengths += t.num_tokens
            if k > 0:
                trajs = engine.generate(prompts, k, sampling)
                for j, r in enumerate(chunk):
                    hits = [task.verify(r, t.response_text).score >= 1.0 for t in trajs[j * k:(j + 1) * k]]
                    passed, sampled = passed + any(hits), sampled + sum(hits) / k
    out = {"eval/accuracy": correct / len(rows), "eval/score_mean": score / len(rows)} if verifies else {}
    out["eval/length_mean"] = lengths / len(rows)
    if rewards is not None and rewarded:
        out["eval/reward_mean"] = reward / rewarded
    if k > 0:
        out[f"eval/pass@{k}"] = passed / len(rows)
        out["eval/sampled_accuracy"] = sampled / len(rows)  # pass@1 at the sampling temperature, mean of k draws
    return out
