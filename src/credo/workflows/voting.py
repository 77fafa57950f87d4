"""CCPO voting: N agents answer independently; the majority of their extracted answers is the team answer.

Vote round j of a prompt is formed by the j-th sample of every agent. The counterfactual for agent k re-tallies the
round without k's vote (no extra decoding); see :func:`credo.credit.ccpo.vote_credit` for the tie rule.
"""

from __future__ import annotations

import torch

from credo.credit.ccpo import VOTE_MODES, HistoryNormalizer, majority, shape_vote_rewards, vote_credit
from credo.workflows import WORKFLOWS, Episode, Workflow

ANSWER = "{prompt}"


@WORKFLOWS.register("voting")
class Voting(Workflow):
    credit_modes = VOTE_MODES
    max_agents = 64

    def __init__(self, cfg, agents, task):
        super().__init__(cfg, agents, task)
        self.hist = HistoryNormalizer(self.multi.ema_decay, self.multi.min_samples)

    def _answers(self, rows, n, version, greedy=False, batch_size=0):
        """Per agent, its n answers per row (prompt-major)."""
        return [self.generate(a, [a.format("answer", ANSWER, **self.fields(r)) for r in rows], n, "answer", version,
                              greedy, batch_size) for a in self.agents]

    def _tally(self, row, turns, salt):
        """(team score, credits [N], own scores [N]) of one round."""
        verdicts = [self.verify(row, t.response_text) for t in turns]
        correct = {ext: s for s, ext in verdicts if ext}
        joint, credits = vote_credit([ext for _, ext in verdicts], correct, self.multi.tie_rule,
                                     seed=self.seed * 100_003 + salt)
        return joint, credits, [s for s, _ in verdicts]

    def rollout(self, rows, group_ids, n, version=0):
        per_agent = self._answers(rows, n, version)
        episodes = []
        for i in range(len(rows) * n):
            row, g = rows[i // n], group_ids[i // n]
            turns = [answers[i] for answers in per_agent]
            joint, credits, own = self._tally(row, turns, g * 1000 + i % n)
            for t in turns:
                t.group_id = t.episode_id = g
            episodes.append(Episode(g, row, turns, joint, {"credit": credits, "own": own}))
        return episodes

    def credit(self, episodes):
        joint = torch.tensor([e.score for e in episodes], dtype=torch.float64)
        metrics = {"vote/team_accuracy": float((joint >= 1).double().mean())}
        for k, agent in enumerate(self.agents):
            c = torch.tensor([e.info["credit"][k] for e in episodes], dtype=torch.float64)
            own = torch.tensor([e.info["own"][k] for e in episodes], dtype=torch.float64)
            r = shape_vote_rewards(joint, c, own, self.hist, f"credit/{agent.name}", self.mode,
                                   self.multi.alpha, self.multi.lam)
            for e, v, cv, o in zip(episodes, r.tolist(), c.tolist(), own.tolist()):
                t = e.turns[k]
                t.reward = v
                t.rewards |= {"score": o, "team": e.score, "credit": cv}
            metrics[f"vote/{agent.name}/accuracy"] = float((own >= 1).double().mean())
            metrics[f"vote/{agent.name}/pivotal_rate"] = float((c != 0).double().mean())
        return metrics

    def evaluate(self, rows, batch_size=64):
        """Greedy: team (majority) accuracy and each agent's own accuracy."""
        per_agent = self._answers(rows, 1, 0, True, batch_size)
        team, out = 0.0, {}
        own = [0.0] * len(self.agents)
        for i, row in enumerate(rows):
            verdicts = [self.verify(row, answers[i].response_text) for answers in per_agent]
            m = majority([ext for _, ext in verdicts], self.multi.tie_rule, None)
            team += next((s for s, ext in verdicts if m is not None and ext == m), 0.0) >= 1
            for k, (s, _) in enumerate(verdicts):
                own[k] += s >= 1
        n = max(len(rows), 1)
        out["eval/accuracy"] = out["eval/team_accuracy"] = team / n
        for a, c in zip(self.agents, own):
            out[f"eval/{a.name}/accuracy"] = c / n
        return out

    def state_dict(self):
        return {"hist": self.hist.state_dict()}

    def load_state_dict(self, state):
        self.hist.load_state_dict(state["hist"])
