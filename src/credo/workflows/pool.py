"""Heterogeneous pool (HACPO): every agent answers every prompt of a shared batch on its own; all answers are verified
by the same task verifier and pooled, tokenizer-neutrally, for every learner.

A pooled response is a :class:`~credo.trajectory.Trajectory` that keeps its text, reward, source agent
(``t.agent``) and the source's rollout-time mean log-prob (``t.info["source_mean_logp"]``, in the source's own
tokenizer space). A learner trains on its own samples token-in/token-out and on other agents' samples re-tokenised
from text by :func:`retokenize`. The workflow owns the capability tracker (so it is checkpointed with the workflow
state) and counts the rollouts consumed.
"""

from __future__ import annotations

import torch

from credo.credit.capability import CapabilityTracker
from credo.models import encode_prompt
from credo.models.device import on_host
from credo.trajectory import Trajectory
from credo.workflows import WORKFLOWS, Episode, Workflow

ANSWER = "{prompt}"


@on_host
def retokenize(t: Trajectory, tok, prompt_text: str, chat_template: bool = True) -> Trajectory | None:
    """Agent ``t.agent``'s response as a cross sample for a learner with tokenizer ``tok``.

    The prompt is the learner's own prompt text for the row, the response is ``t.response_text`` encoded by ``tok``
    (plus the learner's EOS when the source stopped on EOS). Token log-probs are unknown in the learner's space and
    left 0; the source's mean log-prob travels in ``info``. None if the text encodes to no token.
    """
    ids = list(tok(t.response_text, add_special_tokens=False)["input_ids"])
    if t.info.get("eos"):
        ids.append(tok.eos_token_id)
    if not ids:
        return None
    n = len(ids)
    return Trajectory(
        prompt_ids=torch.as_tensor(encode_prompt(tok, prompt_text, chat_template), dtype=torch.long),
        response_ids=torch.tensor(ids, dtype=torch.long), logprobs=torch.zeros(n),
        loss_mask=torch.ones(n), versions=torch.full((n,), int(t.versions[0]) if t.num_tokens else 0),
        prompt_text=prompt_text, response_text=t.response_text, agent=t.agent, role=t.role, group_id=t.group_id,
        episode_id=t.episode_id, finish_reason=t.finish_reason, rewards=dict(t.rewards), reward=t.reward,
        info={"cross": True, "source": t.agent, "source_mean_logp": t.info["source_mean_logp"],
              "eos": bool(t.info.get("eos"))})


@WORKFLOWS.register("hacpo")
class SharedPool(Workflow):
    credit_modes = ("verifier",)
    max_agents = 64

    def __init__(self, cfg, agents, task):
        super().__init__(cfg, agents, task)
        shared = [a.name for a in self.agents if a.cfg.share]
        if shared:
            raise ValueError(f"workflow hacpo needs one policy per agent; {shared} share a policy")
        h = cfg.hacpo
        self.tracker = CapabilityTracker([a.name for a in self.agents], h.window, h.floor, h.omega_min, h.omega_max,
                                         h.warmup, h.stat)
        self.rollouts = 0

    def texts(self, agent, rows) -> list[str]:
        return [agent.format("answer", ANSWER, **self.fields(r)) for r in rows]

    def prompts(self, row):
        return [(a, "answer", self.texts(a, [row])[0]) for a in self.agents]

    def rollout(self, rows, group_ids, n, version=0):
        """One episode per prompt; its turns are every agent's n samples (agent-major, then prompt-major)."""
        per_agent = [self.generate(a, self.texts(a, rows), n, "answer", version) for a in self.agents]
        for a, trajs in zip(self.agents, per_agent):
            eos = set(a.policy.engine.eos_ids)
            for i, t in enumerate(trajs):
                t.group_id = t.episode_id = group_ids[i // n]
                t.info["source_mean_logp"] = float(t.logprobs.mean()) if t.num_tokens else 0.0
                t.info["eos"] = t.finish_reason == "stop" and t.num_tokens > 0 and int(t.response_ids[-1]) in eos
        self.rollouts += sum(len(trajs) for trajs in per_agent)
        return [Episode(g, row, [trajs[i * n + j] for trajs in per_agent for j in range(n)])
                for i, (row, g) in enumerate(zip(rows, group_ids))]

    def credit(self, episodes):
        """Reward = the verifier score of each answer; per-agent accuracy of the batch."""
        metrics = {}
        for e in episodes:
            for t in e.turns:
                s, ext = self.verify(e.row, t.response_text)
                t.reward, t.rewards["score"], t.info["extracted"] = s, s, ext
        for a in self.agents:
            mine = [t for e in episodes for t in e.turns if t.agent == a.name]
            metrics[f"pool/{a.name}/accuracy"] = sum(t.score >= 1 for t in mine) / max(len(mine), 1)
        metrics["rollouts/total"] = float(self.rollouts)
        return metrics

    def evaluate(self, rows, batch_size=64):
        """Each agent alone, greedy: ``eval/<agent>/accuracy`` and ``eval/<agent>/accuracy_per_1k_rollouts``
        (accuracy / thousands of rollouts consumed so far by all agents); ``eval/accuracy`` is their mean."""
        out = {}
        for a in self.agents:
            trajs = self.generate(a, self.texts(a, rows), 1, "answer", greedy=True, batch_size=batch_size)
            acc = sum(self.verify(r, t.response_text)[0] >= 1 for r, t in zip(rows, trajs)) / max(len(rows), 1)
            out[f"eval/{a.name}/accuracy"] = acc
            if self.rollouts:
                out[f"eval/{a.name}/accuracy_per_1k_rollouts"] = acc / (self.rollouts / 1000)
        out["eval/accuracy"] = sum(out[f"eval/{a.name}/accuracy"] for a in self.agents) / len(self.agents)
        out["rollouts/total"] = float(self.rollouts)
        return out

    def state_dict(self):
        return {"tracker": self.tracker.state_dict(), "rollouts": self.rollouts}

    def load_state_dict(self, state):
        self.tracker.load_state_dict(state["tracker"])
        self.rollouts = int(state["rollouts"])
