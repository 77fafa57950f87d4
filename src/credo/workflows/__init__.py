"""Multi-agent workflows: who is called, in which order, on what text, and how each turn is paid.

A workflow class is registered by name and built as ``cls(cfg, agents, task)``. It provides
``rollout(rows, group_ids, n, version) -> list[Episode]`` (sampling), ``prompts(row)`` (every turn's prompt with the
text other turns write left empty, for the context check before training), ``credit(episodes) -> metrics`` (writes
``t.reward`` on every trainable turn), optionally ``contaminate(episodes, noise)`` (reward noise on the verifier scores,
before credit), ``evaluate(rows, batch_size) -> metrics`` (greedy, held-out) and
``state_dict()/load_state_dict()`` for whatever credit state it keeps. Agents pass text, never token ids.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from credo.registry import Registry
from credo.trajectory import Trajectory

WORKFLOWS = Registry("workflow", "cls(cfg: Config, agents: dict[str, Agent], task: Task) -> Workflow")


@dataclass
class Episode:
    """One collaboration on one prompt: the turns in call order, the team's verifier score and extras (solo scores,
    votes, counterfactual scores) the credit step reads."""

    group_id: int
    row: dict[str, Any]
    turns: list[Trajectory]
    score: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class Workflow:
    """Shared plumbing: agent lookup by position, template fields, scoring, chunked generation."""

    min_agents = 2
    max_agents = 2
    credit_modes: tuple[str, ...] = ()  # the first is the default

    def __init__(self, cfg: Any, agents: dict[str, Any], task: Any):
        name = type(self).__name__
        if not self.min_agents <= len(agents) <= self.max_agents:
            want = self.min_agents if self.min_agents == self.max_agents else f"{self.min_agents}+"
            raise ValueError(f"workflow {cfg.multi.workflow or name} needs {want} agents, got {list(agents)}")
        self.cfg, self.multi, self.task = cfg, cfg.multi, task
        self.mode = cfg.multi.credit or self.credit_modes[0]
        if self.mode not in self.credit_modes:
            raise ValueError(f"multi.credit={self.mode!r} does not fit workflow {name}; use one of {self.credit_modes}")
        self.agents = list(agents.values())
        self.seed = cfg.train.seed

    def fields(self, row: dict[str, Any], **extra: str) -> dict[str, Any]:
        """Template fields: the row (without the gold answer), ``prompt`` = the task's prompt, and ``extra``."""
        out = {k: v for k, v in row.items() if k != "answer"}
        return out | {"prompt": self.task.prompt(row), "question": row.get("question", "")} | extra

    def verify(self, row: dict[str, Any], text: str) -> tuple[float, str]:
        """(score in [0, 1], extracted answer) of a response."""
        v = self.task.verify(row, text)
        return float(v.score), str(v.details.get("extracted", ""))

    @staticmethod
    def generate(agent: Any, texts: list[str], n: int, role: str, version: int = 0, greedy: bool = False,
                 batch_size: int = 0) -> list[Trajectory]:
        if not batch_size:
            return agent.generate(texts, n, role, version=version, greedy=greedy)
        out: list[Trajectory] = []
        for i in range(0, len(texts), batch_size):
            out += agent.generate(texts[i:i + batch_size], n, role, version=version, greedy=greedy)
        return out

    def prompts(self, row: dict[str, Any]) -> list[tuple[Any, str, str]]:
        """(agent, role, prompt text) of every turn of a collaboration on ``row``, the fields that other turns
        write ({plan}, {draft}, {critique}) empty: the shortest prompt each agent gets in each role."""
        raise NotImplementedError

    def check_prompt_lengths(self, rows: list[dict[str, Any]]) -> None:
        """Before training: a one-line ConfigError naming the agent, role and ``max_new_tokens`` key when one of
        the :meth:`prompts` of ``rows`` plus that agent's response cap exceeds its model's context. Prompts that
        carry other turns' text grow past these; ``Agent.generate`` checks each before generating."""
        texts: dict[tuple[Any, str], list[str]] = defaultdict(list)
        for row in rows:
            for agent, role, text in self.prompts(row):
                texts[(agent, role)].append(text)
        for (agent, role), batch in texts.items():
            agent.check_prompt_lengths(batch, role)

    def credit(self, episodes: list[Episode]) -> dict[str, float]:
        raise NotImplementedError

    #: The advantage estimator its credit mode requires (None = ``algo.advantage``), e.g. CCPO v2's Dr.GRPO.
    advantage: str | None = None

    #: True when the workflow injects reward noise into the verifier scores its credit reads (``contaminate``, called
    #: before ``credit``); otherwise the trainer adds the noise to the turns' rewards after credit.
    noisy_scores = False

    def contaminate(self, episodes: list[Episode], noise: Any) -> dict[str, float]:
        """Draw reward noise (a :class:`credo.rewards.noise.RewardNoise`) for the verifier scores, store it in
        ``episode.info['noise']``; -> noise metrics. Only called when ``noisy_scores``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def clean(text: str) -> str:
    """A turn's text as the next agent sees it: one line, stripped."""
    return text.strip().split("\n", 1)[0].strip()


def states_answer(text: str, gold: Any) -> bool:
    """Whether ``text`` contains the gold answer as a standalone token (digits/letters not glued on either side)."""
    g = str(gold).strip() if gold is not None else ""
    return bool(g) and re.search(rf"(?<![\w.]){re.escape(g)}(?![\w]|\.\d)", text) is not None


from credo.workflows import critique, pool, think_reason, voting  # noqa: E402,F401  (register the built-ins)
