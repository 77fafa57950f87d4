"""JSON out of model replies: extraction, pydantic validation, bounded retries, and the parse-failure count.

A reply that does not hold a valid object is answered with one follow-up turn naming the error (so the retry is a
new conversation, never a cache hit) up to ``retries`` times; what still fails is ``None`` and counted, never hidden.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from credo.judge.clients import ChatClient, Sampling, user

M = TypeVar("M", bound=BaseModel)
FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
WINNER = re.compile(r"Winner:\s*(?:Response\s+)?\**\s*([AB])\b", re.IGNORECASE)


class ParseError(ValueError):
    pass


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (inside a ``` fence if there is one); ParseError if there is none."""
    for block in FENCE.findall(text) + [text]:
        decoder = json.JSONDecoder()
        for start in (i for i, c in enumerate(block) if c == "{"):
            try:
                return decoder.raw_decode(block, start)[0]
            except json.JSONDecodeError:
                continue
    raise ParseError("no JSON object found")


def validate(text: str, schema: type[M]) -> M:
    try:
        return schema.model_validate(extract_json(text))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(root)"
        raise ParseError(f"{where}: {first['msg']}") from e


def parse_winner(text: str) -> str | None:
    """``"A"`` / ``"B"`` from the last ``Winner: X`` line, else None (unparseable counts as wrong)."""
    found = WINNER.findall(text)
    return found[-1].upper() if found else None


@dataclass
class ParseStats:
    requests: int = 0
    failed: int = 0  # still invalid after all retries
    retried: int = 0  # requests that needed at least one retry
    calls: int = 0  # conversations sent (first tries + retries)

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    def add(self, other: ParseStats) -> None:
        for k in ("requests", "failed", "retried", "calls"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}requests": self.requests, f"{prefix}parse_failed": self.failed,
                f"{prefix}parse_failure_rate": self.failure_rate, f"{prefix}retried": self.retried,
                f"{prefix}calls": self.calls}


def ask_json(client: ChatClient, prompts: list[str], schema: type[M], sampling: Sampling | None = None,
             retries: int = 2) -> tuple[list[M | None], ParseStats]:
    """One validated ``schema`` object per prompt (None where every try failed), all prompts batched per round."""
    sampling = sampling or Sampling()
    stats = ParseStats(requests=len(prompts))
    convs = [user(p) for p in prompts]
    out: list[M | None] = [None] * len(prompts)
    todo = list(range(len(prompts)))
    for attempt in range(retries + 1):
        if not todo:
            break
        replies = client.chat([convs[i] for i in todo], sampling)
        stats.calls += len(todo)
        failed = []
        for i, reply in zip(todo, replies):
            try:
                out[i] = validate(reply, schema)
            except ParseError as e:
                failed.append(i)
                convs[i] = convs[i] + [{"role": "assistant", "content": reply},
                                       {"role": "user", "content": f"That reply is not valid ({e}). Reply with the "
                                                                   "corrected JSON object only."}]
        if attempt == 0:
            stats.retried = len(failed) if retries else 0
        todo = failed
    stats.failed = len(todo)
    return out, stats
