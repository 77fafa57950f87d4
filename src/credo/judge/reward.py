"""A judge as an RL reward function (``reward.functions: [{name: judge, kwargs: {...}}]``, registered in
:data:`credo.rewards.functions.REWARD_FUNCTIONS`).

``mode = "pairwise"``: each completion is judged against the row's reference answer (``reference_field``), in both
A/B orders when ``swap``; the reward is the fraction of orders it wins (0, 0.5 or 1); an unparseable verdict loses.
``mode = "rubric"``: each completion is checked against the row's rubric (``rubric_field``: a list of rule strings)
and the reward is the fraction of rules it passes. All calls of a batch go out together through a response cache.
"""

from __future__ import annotations

import re
from typing import Any

from credo.judge.clients import CachedClient, ChatClient, Sampling, user
from credo.judge.judging import judge_pairs
from credo.judge.prompts import POINTWISE, fill

VERDICT = re.compile(r"^\s*\W*(R\d+)\W*:?\s*\**\s*(pass|fail)", re.IGNORECASE | re.MULTILINE)


class JudgeReward:
    __name__ = "judge"

    def __init__(self, client: ChatClient, mode: str = "pairwise", reference_field: str = "answer",
                 rubric_field: str = "rubric", swap: bool = True, sampling: Sampling | None = None):
        if mode not in ("pairwise", "rubric"):
            raise ValueError(f"judge reward mode must be pairwise or rubric, got {mode!r}")
        self.client, self.mode, self.swap = client, mode, swap
        self.reference_field, self.rubric_field = reference_field, rubric_field
        self.sampling = sampling or Sampling(max_tokens=256)

    def __call__(self, prompts: list[str], completions: list[str], **fields: list[Any]) -> list[float]:
        field = self.reference_field if self.mode == "pairwise" else self.rubric_field
        if field not in fields:
            raise ValueError(f"judge reward ({self.mode}) needs the row field {field!r}; rows have {sorted(fields)}")
        if self.mode == "pairwise":
            return self.pairwise(prompts, completions, [str(r) for r in fields[field]])
        return self.rubric(prompts, completions, fields[field])

    def pairwise(self, prompts: list[str], completions: list[str], refs: list[str]) -> list[float]:
        items = [(p, c, r, None) for p, c, r in zip(prompts, completions, refs)]
        if self.swap:
            items += [(p, r, c, None) for p, c, r in zip(prompts, completions, refs)]
        winners, _ = judge_pairs(self.client, items, self.sampling)
        n = len(completions)
        wins = [float(winners[i] == "A") + (float(winners[n + i] == "B") if self.swap else 0.0) for i in range(n)]
        return [w / (2 if self.swap else 1) for w in wins]

    def rubric(self, prompts: list[str], completions: list[str], rubrics: list[Any]) -> list[float]:
        rules = [[str(r) for r in (rb if isinstance(rb, list) else [rb])] for rb in rubrics]
        convs = [user(fill(POINTWISE, instruction=p, response=c,
                           rules="\n".join(f"R{k + 1}: {r}" for k, r in enumerate(rs))))
                 for p, c, rs in zip(prompts, completions, rules)]
        out = []
        for reply, rs in zip(self.client.chat(convs, self.sampling), rules):
            verdicts = {k.upper(): v.lower() for k, v in VERDICT.findall(reply)}
            out.append(sum(verdicts.get(f"R{k + 1}") == "pass" for k in range(len(rs))) / max(len(rs), 1))
        return out


def make_judge_reward(task: Any, model: str = "smollm2", base_url: str = "", api_key_env: str = "OPENAI_API_KEY",
                      mode: str = "pairwise", cache_dir: str = "", reference_field: str = "answer",
                      rubric_field: str = "rubric", swap: bool = True, max_tokens: int = 256, timeout: float = 60.0,
                      concurrency: int = 4, device: str = "cpu") -> JudgeReward:
    """A judge reward over an OpenAI-compatible endpoint (``base_url``) or a local model (``model``), cached on disk
    under ``cache_dir`` (default ``$CREDO_CACHE/judge``)."""
    from credo.models import cache_dir as credo_cache

    if base_url:
        from credo.judge.openai_client import OpenAIClient

        inner: ChatClient = OpenAIClient(model, base_url, api_key_env, timeout=timeout, concurrency=concurrency)
    else:
        from credo.judge.hf import HFClient

        inner = HFClient.load(model, device=device)
    client = CachedClient(inner, cache_dir or credo_cache() / "judge")
    return JudgeReward(client, mode, reference_field, rubric_field, swap, Sampling(max_tokens=max_tokens))
