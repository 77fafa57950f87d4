"""DACR: agent P answers, partner Q critiques, P rewrites — run in both directions every step, so each agent is
trained as solver (answer + rewrite turns) and as critic. With ``multi.critique_counterfactual`` P also rewrites
without the critique, and the critic is paid against that rewrite. Credit: :func:`credo.credit.dacr.dacr_rewards`.
Reward noise (``reward.noise_p``) contaminates each verifier score (R(y), R(y'), R(y'')) before credit, so the
critic's cross-improvement is computed from the same noisy scores the other turns are paid.
"""

from __future__ import annotations

import torch

from credo.credit.dacr import DACR_MODES, dacr_metrics, dacr_rewards
from credo.workflows import WORKFLOWS, Episode, Workflow, clean, states_answer

ANSWER = "{prompt}"
CRITIQUE = "{prompt} {draft} Critique:"
REWRITE = "{prompt} {draft} Critique: {critique} Revised:"


@WORKFLOWS.register("answer_critique_rewrite")
class AnswerCritiqueRewrite(Workflow):
    credit_modes = DACR_MODES
    noisy_scores = True

    def prompts(self, row):
        return [(a, role, a.format(role, template, **self.fields(row, **empty))) for a in self.agents
                for role, template, empty in (("answer", ANSWER, {}), ("critique", CRITIQUE, {"draft": ""}),
                                              ("rewrite", REWRITE, {"draft": "", "critique": ""}))]

    def _direction(self, solver, critic, rows, n, version, greedy=False, batch_size=0):
        """-> (answers, critiques, rewrites, critique-free rewrites or None), each prompt-major, len(rows)*n."""
        gen = self.generate
        answers = gen(solver, [solver.format("answer", ANSWER, **self.fields(r)) for r in rows], n, "answer",
                      version, greedy, batch_size)
        rows_n = [rows[i // n] for i in range(len(answers))]
        drafts = [clean(t.response_text) for t in answers]
        crits = gen(critic, [critic.format("critique", CRITIQUE, **self.fields(r, draft=d))
                             for r, d in zip(rows_n, drafts)], 1, "critique", version, greedy, batch_size)
        notes = [clean(t.response_text) for t in crits]
        rewrites = gen(solver, [solver.format("rewrite", REWRITE, **self.fields(r, draft=d, critique=c))
                                for r, d, c in zip(rows_n, drafts, notes)], 1, "rewrite", version, greedy, batch_size)
        solo = None
        if self.multi.critique_counterfactual:
            solo = gen(solver, [solver.format("rewrite", REWRITE, **self.fields(r, draft=d, critique=""))
                                for r, d in zip(rows_n, drafts)], 1, "rewrite_solo", version, greedy, batch_size)
        return answers, crits, rewrites, solo

    def rollout(self, rows, group_ids, n, version=0):
        p, q = self.agents
        episodes = []
        for solver, critic in ((p, q), (q, p)):
            answers, crits, rewrites, solo = self._direction(solver, critic, rows, n, version)
            for i, turns in enumerate(zip(answers, crits, rewrites)):
                row, g = rows[i // n], group_ids[i // n]
                for t in turns:
                    t.group_id = t.episode_id = g
                info = {"answer": self.verify(row, turns[0].response_text)[0], "solver": solver.name,
                        "leak": states_answer(turns[1].response_text, row.get("answer"))}
                if solo is not None:
                    info["rewrite_solo"] = self.verify(row, solo[i].response_text)[0]
                episodes.append(Episode(g, row, list(turns), self.verify(row, turns[2].response_text)[0], info))
        return episodes

    def _keys(self) -> list[str]:
        return ["answer", "rewrite"] + (["rewrite_solo"] if self.multi.critique_counterfactual else [])

    def contaminate(self, episodes, noise):
        """Independent noise on each verifier score of an episode: R(y), R(y') and, if used, R(y'')."""
        keys = self._keys()
        xi = noise.sample(len(episodes) * len(keys)).reshape(len(episodes), len(keys))
        for e, row in zip(episodes, xi.tolist()):
            e.info["noise"] = dict(zip(keys, row))
        return noise.summary(xi)

    def credit(self, episodes):
        truth = {k: torch.tensor(v, dtype=torch.float64) for k, v in (
            ("answer", [e.info["answer"] for e in episodes]), ("rewrite", [e.score for e in episodes]),
            ("rewrite_solo", [e.info.get("rewrite_solo", 0.0) for e in episodes]))}
        seen = {k: truth[k] + torch.tensor([e.info.get("noise", {}).get(k, 0.0) for e in episodes],
                                           dtype=torch.float64) for k in truth}
        solo = self.multi.critique_counterfactual
        r_ans, r_crit, r_rw, _ = dacr_rewards(seen["answer"], seen["rewrite"], seen["rewrite_solo"] if solo else None,
                                              self.mode)
        metrics = dacr_metrics(truth["answer"], truth["rewrite"], truth["rewrite_solo"] if solo else None)
        for e, a, c, w in zip(episodes, r_ans.tolist(), r_crit.tolist(), r_rw.tolist()):
            answer, crit, rewrite = e.turns
            penalty = self.multi.answer_penalty if e.info["leak"] else 0.0
            answer.reward, crit.reward, rewrite.reward = a, c - penalty, w
            answer.rewards["score"] = e.info["answer"]
            rewrite.rewards["score"] = crit.rewards["score"] = e.score
            crit.rewards["leak_penalty"] = -penalty
            if "noise" in e.info:
                answer.rewards["noise"] = e.info["noise"]["answer"]
                rewrite.rewards["noise"] = e.info["noise"]["rewrite"]
        metrics["dacr/leak_rate"] = sum(e.info["leak"] for e in episodes) / max(len(episodes), 1)
        return metrics

    def evaluate(self, rows, batch_size=64):
        """Greedy, both directions: each agent's answer accuracy and its accuracy after the partner's critique.
        ``eval/accuracy`` is the mean rewrite accuracy."""
        p, q = self.agents
        out, total = {}, 0.0
        for solver, critic in ((p, q), (q, p)):
            answers, _, rewrites, _ = self._direction(solver, critic, rows, 1, 0, True, batch_size)
            n = max(len(rows), 1)
            a = sum(self.verify(r, t.response_text)[0] >= 1 for r, t in zip(rows, answers)) / n
            w = sum(self.verify(r, t.response_text)[0] >= 1 for r, t in zip(rows, rewrites)) / n
            out[f"eval/{solver.name}/answer_accuracy"] = a
            out[f"eval/{solver.name}/rewrite_accuracy"] = w
            total += w / 2
        out["eval/accuracy"] = total
        return out
