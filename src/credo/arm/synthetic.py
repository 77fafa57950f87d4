"""A topic task with exact, prompt-dependent objectives (the decisive miniature of UniARM's experiment).

A prompt names one of 16 topics (``"topic C:"``); a response is a string of lowercase letters. Topic j has a set
T_j of 6 on-topic letters and, for every even j, a risk set U_j ⊂ T_j of 3 letters (empty for odd j).
help(x, y) = share of y's characters in T(x); harmless(x, y) = −share in U(x). Both need the topic of x, and
they conflict on the risky topics. Per-token rewards r_i(y_t) = the letter's contribution / len(y) give the exact
oracle guidance (:class:`OracleGuide`).
"""

from __future__ import annotations

import string

import numpy as np
import torch

TOPICS = string.ascii_uppercase[:16]
LETTERS = string.ascii_lowercase
OBJECTIVES = ("help", "harmless")


class TopicTask:
    """The topic sets T_j, U_j drawn from ``seed``; objective functions and text generators."""

    def __init__(self, seed: int = 0, on_topic: int = 6, risky: int = 3):
        rng = np.random.default_rng(seed)
        self.on_topic = [set(rng.choice(list(LETTERS), on_topic, replace=False)) for _ in TOPICS]
        self.risky = [set(sorted(t)[:risky]) if j % 2 == 0 else set() for j, t in enumerate(self.on_topic)]

    @staticmethod
    def prompt(topic: int) -> str:
        return f"topic {TOPICS[topic]}:"

    @staticmethod
    def topic_of(text: str) -> int:
        """The topic index named in a prompt (or prompt + response) text; −1 when there is none."""
        at = text.find("topic ")
        return TOPICS.find(text[at + 6]) if at >= 0 and len(text) > at + 6 and text[at + 6] in TOPICS else -1

    def objectives(self, topic: int, response: str) -> tuple[float, float]:
        """(help, harmless) of ``response`` for ``topic``: shares of its characters in T(x) and U(x); an empty
        response scores (0, 0)."""
        if not response:
            return 0.0, 0.0
        n = len(response)
        on, risky = self.on_topic[topic], self.risky[topic]
        return sum(c in on for c in response) / n, -sum(c in risky for c in response) / n

    def response(self, rng: np.random.Generator, topic: int, length: int, p_topic: float) -> str:
        """Each letter from T(x) with probability ``p_topic``, else uniform over a–z."""
        on = sorted(self.on_topic[topic])
        return "".join(rng.choice(on) if rng.random() < p_topic else rng.choice(list(LETTERS)) for _ in range(length))

    def base_texts(self, n: int, seed: int, length: int = 12, p_topic: float = 0.5) -> list[tuple[str, str]]:
        """(prompt, response) pairs to train a topic-aware base LM from scratch."""
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            t = int(rng.integers(len(TOPICS)))
            out.append((self.prompt(t), self.response(rng, t, length, p_topic)))
        return out

    def label(self, rng: np.random.Generator, topic: int, y0: str, y1: str, temperature: float) -> dict[str, int]:
        """Logistic per-objective labels: P(z_i = 0, y0 preferred) = σ((f_i(y0) − f_i(y1)) / temperature)."""
        f0, f1 = self.objectives(topic, y0), self.objectives(topic, y1)
        out = {}
        for name, a, b in zip(OBJECTIVES, f0, f1):
            p0 = 1.0 / (1.0 + np.exp(-(a - b) / temperature))
            out[name] = 0 if rng.random() < p0 else 1
        return out

    def pairs(self, n: int, seed: int, length: int = 12, temperature: float = 0.05,
              responses: list[tuple[int, str, str]] | None = None) -> list[dict]:
        """``n`` labelled pairs {prompt, responses, prefer}; responses drawn by the generator with a random
        on-topic share per response, or given as (topic, y0, y1) (e.g. sampled from a base model)."""
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(n):
            if responses is not None:
                t, y0, y1 = responses[i]
            else:
                t = int(rng.integers(len(TOPICS)))
                y0, y1 = (self.response(rng, t, length, float(rng.random())) for _ in range(2))
            rows.append({"prompt": self.prompt(t), "responses": [y0, y1],
                         "prefer": self.label(rng, t, y0, y1, temperature)})
        return rows

    def token_rewards(self, tokenizer, length: int) -> torch.Tensor:
        """Exact per-token rewards [16 topics, 2 objectives, vocab]: a letter token's share of the objective in a
        response of ``length`` letters (0 for every other token)."""
        vocab = len(tokenizer)
        out = torch.zeros(len(TOPICS), 2, vocab)
        for c in LETTERS:
            ids = tokenizer(c, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                continue
            for j in range(len(TOPICS)):
                out[j, 0, ids[0]] = float(c in self.on_topic[j]) / length
                out[j, 1, ids[0]] = -float(c in self.risky[j]) / length
        return out


class OracleGuide:
    """Oracle guidance, a logits processor: log π_base + Σ_i λ_i r_i(token | topic) / β with the exact per-token
    rewards of a :class:`TopicTask` (the reference every trained ARM is measured against)."""

    def __init__(self, task: TopicTask, tokenizer, lam: list[float], beta: float, length: int):
        self.tok, self.beta = tokenizer, beta
        self.rewards = task.token_rewards(tokenizer, length)  # [16, 2, V]
        self.lam = torch.tensor(lam, dtype=torch.float32)

    def __call__(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        topics = [TopicTask.topic_of(self.tok.decode(row, skip_special_tokens=True)) for row in input_ids.tolist()]
        bias = torch.einsum("k,nkv->nv", self.lam, self.rewards[[max(t, 0) for t in topics]]) / self.beta
        bias[[i for i, t in enumerate(topics) if t < 0]] = 0.0
        lp = torch.log_softmax(logits.float(), dim=-1)
        v = min(lp.shape[-1], bias.shape[-1])
        lp[:, :v] += bias[:, :v].to(lp.device)
        return lp
