"""CCPO voting: N agents answer independently; the majority of their extracted answers is the team answer.

Vote round j of a prompt is formed by the j-th sample of every agent. The counterfactual for agent k re-tallies the
round without k's vote (no extra decoding); see :func:`credo.credit.ccpo.vote_credit` for the tie rule. Reward noise
(``reward.noise_p``) contaminates the verifier score of each distinct answer of a round before the tally, so the team
score, the counterfactual re-tallies and each voter's own score all read the same noisy verdicts.
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
    noisy_scores = True

    def __init__(self, cfg, agents, task):
        super().__init__(cfg, agents, task)
        self.hist = HistoryNormalizer(self.multi.ema_decay, self.multi.min_samples)

    def prompts(self, row):
        return [(a, "answer", a.format("answer", ANSWER, **self.fields(row))) for a in self.agents]

    def _answers(self, rows, n, version, greedy=False, batch_size=0):
        """Per agent, its n answers per row (prompt-major)."""
        return [self.generate(a, [a.format("answer", ANSWER, **self.fields(r)) for r in rows], n, "answer", version,
                              greedy, batch_size) for a in self.agents]

    def _tally(self, verdicts, salt, noise=None):
        """(team score, credits [N], own scores [N]) of one round from its verdicts [(score, extracted answer)];
        ``noise``: answer -> noise added to that answer's verifier score."""
        noise = noise or {}
        seen = [(s + noise.get(ext, 0.0), ext) for s, ext in verdicts]
        correct = {ext: s for s, ext in seen if ext}
        joint, credits = vote_credit([ext for _, ext in seen], correct, self.multi.tie_rule,
                                     seed=self.seed * 100_003 + salt)
        return joint, credits, [s for s, _ in seen]

    def rollout(self, rows, group_ids, n, version=0):
        per_agent = self._answers(rows, n, version)
        episodes = []
        for i in range(len(rows) * n):
            row, g = rows[i // n], group_ids[i // n]
            turns = [answers[i] for answers in per_agent]
            verdicts = [self.verify(row, t.response_text) for t in turns]
            salt = g * 1000 + i % n
            joint, _, own = self._tally(verdicts, salt)
            for t in turns:
                t.group_id = t.episode_id = g
            episodes.append(Episode(g, row, turns, joint, {"verdicts": verdicts, "salt": salt, "own": own}))
        return episodes

    def contaminate(self, episodes, noise):
        """Independent noise on the verifier score of each distinct answer (abstentions included) of each round."""
        answers = [sorted({ext for _, ext in e.info["verdicts"]}) for e in episodes]
        xi = noise.sample(sum(len(a) for a in answers))
        at = 0
        for e, keys in zip(episodes, answers):
            e.info["noise"] = dict(zip(keys, xi[at:at + len(keys)].tolist()))
            at += len(keys)
        return noise.summary(xi)

    def credit(self, episodes):
        joint = torch.tensor([e.score for e in episodes], dtype=torch.float64)
        metrics = {"vote/team_accuracy": float((joint >= 1).double().mean())}
        truth = [self._tally(e.info["verdicts"], e.info["salt"]) for e in episodes]
        seen = [self._tally(e.info["verdicts"], e.info["salt"], e.info["noise"]) if "noise" in e.info else t
                for e, t in zip(episodes, truth)]
        seen_joint = torch.tensor([j for j, _, _ in seen], dtype=torch.float64)
        for k, agent in enumerate(self.agents):
            c = torch.tensor([cs[k] for _, cs, _ in truth], dtype=torch.float64)
            seen_c = torch.tensor([cs[k] for _, cs, _ in seen], dtype=torch.float64)
            seen_own = torch.tensor([o[k] for _, _, o in seen], dtype=torch.float64)
            own = torch.tensor([e.info["own"][k] for e in episodes], dtype=torch.float64)
            r = shape_vote_rewards(seen_joint, seen_c, seen_own, self.hist, f"credit/{agent.name}", self.mode,
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
