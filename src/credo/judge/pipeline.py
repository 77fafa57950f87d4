"""The CDRRM build: profile each response -> synthesize a rubric from two label-free profiles -> keep the rubrics
that reproduce the gold preference -> SFT rows for a pair-conditional rubric generator.

Pairs are shown in a seeded random A/B order (``Synthesis.gold`` says where the chosen answer sits) so that no stage
can learn "A wins". Known from the paper: the stages, their JSON fields, label redaction, the two filter modes and the
instruction-level drop (its public code). Reconstructed here: the prompt wording, the random A/B order at synthesis
(the code passes chosen as A) and the retry policy.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from credo.judge.clients import ChatClient, Sampling
from credo.judge.extract import ParseStats, ask_json
from credo.judge.prompts import GENERATOR, SYNTHESIZE, fill, profile_prompt
from credo.judge.schemas import Profile, Rubric, redact
from credo.rewards.pairs import Pair


@dataclass
class Synthesis:
    """One pair in its A/B order, with its profiles and rubric (None where parsing failed)."""

    pair: Pair
    gold: str  # "A" or "B": the slot holding the chosen answer
    profile_a: Profile | None = None
    profile_b: Profile | None = None
    rubric: Rubric | None = None
    meta: dict = field(default_factory=dict)

    @property
    def response_a(self) -> str:
        return self.pair.chosen if self.gold == "A" else self.pair.rejected

    @property
    def response_b(self) -> str:
        return self.pair.rejected if self.gold == "A" else self.pair.chosen

    def to_dict(self) -> dict:
        dump = (lambda m: m.model_dump(exclude_none=True) if m is not None else None)
        return {**self.pair.to_dict(), "gold": self.gold, "profile_a": dump(self.profile_a),
                "profile_b": dump(self.profile_b), "rubric": dump(self.rubric), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> Synthesis:
        def load(schema, v):
            return schema.model_validate(v) if v is not None else None

        pair = Pair(d["prompt"], d["chosen"], d["rejected"], d.get("source", ""))
        return cls(pair, d["gold"], load(Profile, d.get("profile_a")), load(Profile, d.get("profile_b")),
                   load(Rubric, d.get("rubric")), d.get("meta") or {})


def order_pairs(pairs: list[Pair], seed: int) -> list[Synthesis]:
    rng = random.Random(seed)
    return [Synthesis(p, rng.choice("AB")) for p in pairs]


def profile(client: ChatClient, items: list[Synthesis], sampling: Sampling | None = None,
            retries: int = 2) -> ParseStats:
    """Stage 1: one call per response (a profile never sees the other response); fills profile_a / profile_b."""
    prompts = [profile_prompt(s.pair.prompt, r) for s in items for r in (s.response_a, s.response_b)]
    profiles, stats = ask_json(client, prompts, Profile, sampling, retries)
    for k, s in enumerate(items):
        s.profile_a, s.profile_b = profiles[2 * k], profiles[2 * k + 1]
    return stats


def synthesize(client: ChatClient, items: list[Synthesis], sampling: Sampling | None = None,
               retries: int = 2) -> ParseStats:
    """Stage 2: a rubric from the two redacted profiles (items lacking a profile are skipped and stay None)."""
    ready = [s for s in items if s.profile_a is not None and s.profile_b is not None]
    prompts = [fill(SYNTHESIZE, instruction=s.pair.prompt, profile_a=json.dumps(redact(s.profile_a), indent=1),
                    profile_b=json.dumps(redact(s.profile_b), indent=1)) for s in ready]
    rubrics, stats = ask_json(client, prompts, Rubric, sampling, retries)
    for s, r in zip(ready, rubrics):
        s.rubric = r
    return stats


def self_consistent(s: Synthesis) -> bool:
    check = s.rubric.pair_consistency_check if s.rubric is not None else None
    return check is not None and check.rubric_predicts == s.gold


def filter_rubrics(items: list[Synthesis], mode: str = "self_check", judge: ChatClient | None = None,
                   instruction_level: bool = True, sampling: Sampling | None = None) -> tuple[list[Synthesis], dict]:
    """Stage 3: keep rubrics that reproduce the gold preference, by the synthesizer's own ``pair_consistency_check``
    (``self_check``) or by ``judge`` re-judging the pair under the rubric (``rejudge``). With ``instruction_level``
    every pair of a prompt is dropped when one of them fails. Returns (kept, counts)."""
    if mode not in ("self_check", "rejudge"):
        raise ValueError(f"filter mode must be self_check or rejudge, got {mode!r}")
    have = [s for s in items if s.rubric is not None]
    if mode == "self_check":
        ok = [self_consistent(s) for s in have]
    else:
        if judge is None:
            raise ValueError("filter mode 'rejudge' needs a judge client")
        from credo.judge.judging import judge_pairs

        winners, _ = judge_pairs(judge, [(s.pair.prompt, s.response_a, s.response_b, s.rubric.render())
                                         for s in have], sampling)
        ok = [w == s.gold for w, s in zip(winners, have)]
    bad_prompts = {s.pair.prompt for s, k in zip(have, ok) if not k}
    kept = [s for s, k in zip(have, ok) if k and not (instruction_level and s.pair.prompt in bad_prompts)]
    counts = {"filter/in": len(items), "filter/no_rubric": len(items) - len(have),
              "filter/inconsistent": ok.count(False), "filter/kept": len(kept),
              "filter/drop_rate": 1 - len(kept) / len(items) if items else 0.0}
    return kept, counts


def generator_prompt(instruction: str, response_a: str, response_b: str) -> str:
    return fill(GENERATOR, instruction=instruction, response_a=response_a, response_b=response_b)


def rubric_target(rubric: Rubric) -> str:
    """What the generator learns to write: hard rules and principles (the self-check is the teacher's own)."""
    return json.dumps(rubric.model_dump(include={"hard_rules", "principles"}, exclude_none=True), ensure_ascii=False)


def sft_rows(items: list[Synthesis]) -> list[dict]:
    """Stage 4 data: ``{"prompt", "completion"}`` rows (P3 with both responses in the synthesis order -> rubric
    JSON), readable by ``credo sft`` through the ``dataset`` task (the completion is the SFT target)."""
    return [{"prompt": generator_prompt(s.pair.prompt, s.response_a, s.response_b),
             "completion": rubric_target(s.rubric)} for s in items if s.rubric is not None]


def generator_examples(tokenizer, rows: list[dict], chat_template: bool = True) -> list[tuple[list[int], list[int]]]:
    """``sft_rows`` -> (prompt ids, target ids + EOS) for :func:`credo.sft.trainer.sft_train`."""
    from credo.models import encode_prompt

    return [(encode_prompt(tokenizer, r["prompt"], chat_template),
             tokenizer(r["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
            for r in rows]

