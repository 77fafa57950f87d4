"""CCPO's Think→Reason dyad: agent 1 (Thinker) writes a plan, agent 2 (Solver) answers given problem + plan.

Per prompt and step: n joint episodes (plan → answer) and ``multi.solo_samples`` counterfactual Solver-alone answers
(never trained on; they price the Thinker's help). Credit: :func:`credo.credit.ccpo.dyad_rewards`. Reward noise
(``reward.noise_p``) contaminates each verifier score — every joint answer's and every solo answer's — before credit,
so the Thinker is paid the difference of noisy scores, as a noisy verifier would make it.
"""

from __future__ import annotations

import torch

from credo.credit.ccpo import DYAD_MODES, HistoryNormalizer, dyad_metrics, dyad_rewards, pair_solo
from credo.workflows import WORKFLOWS, Episode, Workflow, clean, states_answer

THINK = "{question} Plan:"
SOLVE = "{question} Plan: {plan} Answer:"
SOLO = "{prompt}"


@WORKFLOWS.register("think_reason")
class ThinkReason(Workflow):
    credit_modes = DYAD_MODES
    noisy_scores = True

    def __init__(self, cfg, agents, task):
        super().__init__(cfg, agents, task)
        self.thinker, self.solver = self.agents
        self.hist = HistoryNormalizer(self.multi.ema_decay, self.multi.min_samples)
        # v2 centres without dividing by the std (norm_adv_by_std=False), so the small lam bonus is not rescaled away
        self.advantage = "dr_grpo" if self.mode == "v2" else None

    def prompts(self, row):
        return [(self.thinker, "think", self.thinker.format("think", THINK, **self.fields(row))),
                (self.solver, "solve", self.solver.format("solve", SOLVE, **self.fields(row, plan=""))),
                (self.solver, "solo", self.solver.format("solo", SOLO, **self.fields(row)))]

    def _plans(self, rows, n, version, greedy=False, batch_size=0):
        texts = [self.thinker.format("think", THINK, **self.fields(r)) for r in rows]
        return self.generate(self.thinker, texts, n, "think", version, greedy, batch_size)

    def _solve(self, rows, plans, version, greedy=False, batch_size=0):
        """One Solver answer per (row, plan); ``plans`` is a list of strings aligned with ``rows``."""
        texts = [self.solver.format("solve", SOLVE, **self.fields(r, plan=p)) for r, p in zip(rows, plans)]
        return self.generate(self.solver, texts, 1, "solve", version, greedy, batch_size)

    def _solo(self, rows, n, version, greedy=False, batch_size=0):
        texts = [self.solver.format("solo", SOLO, **self.fields(r)) for r in rows]
        return self.generate(self.solver, texts, n, "solo", version, greedy, batch_size)

    def rollout(self, rows, group_ids, n, version=0):
        plans = self._plans(rows, n, version)
        plan_rows = [rows[i // n] for i in range(len(plans))]
        answers = self._solve(plan_rows, [clean(p.response_text) for p in plans], version)
        m = self.multi.solo_samples or n
        solo = self._solo(rows, m, version)
        solo_scores = {g: [self.verify(rows[i], t.response_text)[0] for t in solo[i * m:(i + 1) * m]]
                       for i, g in enumerate(group_ids)}
        episodes = []
        for i, (plan, ans) in enumerate(zip(plans, answers)):
            row, g = rows[i // n], group_ids[i // n]
            score, _ = self.verify(row, ans.response_text)
            plan.group_id = ans.group_id = plan.episode_id = ans.episode_id = g
            episodes.append(Episode(g, row, [plan, ans], score,
                                    {"solo": solo_scores[g], "leak": states_answer(plan.response_text,
                                                                                    row.get("answer"))}))
        return episodes

    def contaminate(self, episodes, noise):
        """Independent noise on each joint score and on each solo sample's score (drawn once per prompt)."""
        solo = {}
        for e in episodes:
            solo.setdefault(e.group_id, len(e.info["solo"]))
        xi = noise.sample(len(episodes) + sum(solo.values()))
        per_group, at = {}, len(episodes)
        for g, m in solo.items():
            per_group[g], at = xi[at:at + m].tolist(), at + m
        for e, x in zip(episodes, xi[:len(episodes)].tolist()):
            e.info["noise"] = {"joint": x, "solo": per_group[e.group_id]}
        return noise.summary(xi)

    def credit(self, episodes):
        gids = [e.group_id for e in episodes]
        joint = torch.tensor([e.score for e in episodes], dtype=torch.float64)
        solo = pair_solo(gids, {e.group_id: e.info["solo"] for e in episodes})
        noisy = "noise" in episodes[0].info if episodes else False
        seen_joint, seen_solo = joint, solo
        if noisy:
            seen_joint = joint + torch.tensor([e.info["noise"]["joint"] for e in episodes], dtype=torch.float64)
            seen_solo = pair_solo(gids, {e.group_id: [s + x for s, x in zip(e.info["solo"], e.info["noise"]["solo"])]
                                         for e in episodes})
        r1, r2, metrics = dyad_rewards(seen_joint, seen_solo, torch.tensor(gids), self.hist, self.mode,
                                       self.multi.alpha, self.multi.eta, self.multi.lam)
        if noisy:
            metrics |= dyad_metrics(joint, solo)  # rates of the true scores, not of the contaminated ones
        leaks = 0
        for e, a, b, s in zip(episodes, r1.tolist(), r2.tolist(), solo.tolist()):
            plan, ans = e.turns
            penalty = self.multi.answer_penalty if e.info["leak"] else 0.0
            leaks += e.info["leak"]
            plan.reward, ans.reward = a - penalty, b
            for t in (plan, ans):
                t.rewards |= {"score": e.score, "solo": s, "delta": e.score - s}
            plan.rewards["leak_penalty"] = -penalty
            if noisy:
                ans.rewards["noise"] = e.info["noise"]["joint"]
        metrics["ccpo/leak_rate"] = leaks / max(len(episodes), 1)
        return metrics

    def evaluate(self, rows, batch_size=64):
        """Greedy team accuracy, Solver-alone accuracy (solo prompt), and the lazy-agent check: the Solver with the
        Thinker removed (joint prompt, empty plan). ``lazy_gap`` = team - lazy accuracy."""
        plans = [clean(t.response_text) for t in self._plans(rows, 1, 0, True, batch_size)]
        team = [self.verify(r, t.response_text)[0] >= 1
                for r, t in zip(rows, self._solve(rows, plans, 0, True, batch_size))]
        solo = [self.verify(r, t.response_text)[0] >= 1 for r, t in zip(rows, self._solo(rows, 1, 0, True,
                                                                                         batch_size))]
        lazy = [self.verify(r, t.response_text)[0] >= 1
                for r, t in zip(rows, self._solve(rows, [""] * len(rows), 0, True, batch_size))]
        n = max(len(rows), 1)
        return {"eval/accuracy": sum(team) / n, "eval/team_accuracy": sum(team) / n,
                "eval/solo_accuracy": sum(solo) / n, "eval/lazy_accuracy": sum(lazy) / n,
                "eval/lazy_gap": (sum(team) - sum(lazy)) / n,
                "eval/help_rate": sum(t and not s for t, s in zip(team, solo)) / n,
                "eval/hurt_rate": sum(s and not t for t, s in zip(team, solo)) / n,
                "eval/leak_rate": sum(states_answer(p, r.get("answer")) for p, r in zip(plans, rows)) / n}

    def state_dict(self):
        return {"hist": self.hist.state_dict()}

    def load_state_dict(self, state):
        self.hist.load_state_dict(state["hist"])
