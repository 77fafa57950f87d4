"""``credo generate``: one sampler over a task's held-out prompts → a JSONL of generations and a summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from credo.config import Config
from credo.engines import ENGINES
from credo.engines.samplers import SAMPLERS
from credo.engines.stepwise import LogitsProcessor
from credo.models import load_policy
from credo.models.device import resolve_device
from credo.tasks import build_task, encode_task_prompt


def generate(cfg: Config, sampler: str, out: str | Path, n: int = 1, model=None, tokenizer=None,
             processors: Sequence[LogitsProcessor] = ()) -> dict[str, float]:
    """Run ``sampler`` (a :data:`~credo.engines.samplers.SAMPLERS` name) with ``n`` samples on each of the first
    ``eval.size`` held-out prompts, in batches of ``eval.batch_size`` under seed ``train.seed + 1``; the engine
    applies ``processors`` ((input_ids, logits) -> logits) to every decoding step. Writes one JSON line per
    generation to ``out`` and returns ``gen/{prompts,samples,accuracy,score_mean,tokens_mean,think_tokens_mean,
    stop_frac}`` (accuracy: share with verifier score 1; think tokens: SAGE only)."""
    fn = SAMPLERS.get(sampler)
    if sampler == "sage":
        from credo.engines.sage import check_stops

        check_stops(cfg.sage, cfg.sampling)
    task = build_task(cfg.task)
    if model is None:
        model, tokenizer, _ = load_policy(cfg.model, resolve_device(cfg.train.device))
    engine = ENGINES.get("hf")(model, tokenizer, mixed_precision=cfg.train.mixed_precision)
    engine.logits_processors = list(processors)
    rows = task.rows("eval")[: cfg.eval.size]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    score = correct = tokens = think = stops = 0.0
    count = 0
    with torch.random.fork_rng(devices=[]), out.open("w") as fh:
        torch.manual_seed(cfg.train.seed + 1)
        for i in range(0, len(rows), cfg.eval.batch_size):
            chunk = rows[i:i + cfg.eval.batch_size]
            prompts = [encode_task_prompt(tokenizer, task, r, cfg.model.chat_template) for r in chunk]
            trajs = fn(engine, prompts, n, cfg.sampling, cfg.sage)
            for k, t in enumerate(trajs):
                row = chunk[k // n]
                s = task.verify(row, t.response_text).score
                score, correct, tokens = score + s, correct + (s >= 1.0), tokens + t.num_tokens
                think += t.info.get("think_tokens", t.num_tokens)
                stops += t.finish_reason == "stop"
                count += 1
                rec = {"question": row.get("question"), "answer": row.get("answer"), "sampler": sampler,
                       "response": t.response_text, "score": s, "tokens": t.num_tokens,
                       "finish_reason": t.finish_reason}
                rec |= {k2: v for k2, v in t.info.items() if k2 in ("think_tokens", "sage_phi", "sage_steps")}
                fh.write(json.dumps(rec) + "\n")
    c = max(count, 1)
    return {"gen/prompts": float(len(rows)), "gen/samples": float(count), "gen/accuracy": correct / c,
            "gen/score_mean": score / c, "gen/tokens_mean": tokens / c, "gen/think_tokens_mean": think / c,
            "gen/stop_frac": stops / c}
