"""Workflows with scripted agents: what text each agent sees, and how each turn is paid."""

import numpy as np
import pytest
import torch

from credo.agents import Agent, TemplateError
from credo.config import AgentConfig, Config
from credo.rewards.noise import RewardNoise
from credo.tasks.base import Verdict
from credo.trajectory import Trajectory
from credo.workflows import WORKFLOWS, states_answer


class Scripted(Agent):
    """An agent whose response is ``reply(prompt_text)``; records every prompt it was shown."""

    def __init__(self, name, reply, prompts=None):
        super().__init__(AgentConfig(name=name, prompts=prompts or {}), policy=None, sampling=None)
        self.reply, self.seen = reply, []

    def generate(self, texts, n, role, version=0, greedy=False):
        out = []
        for text in texts:
            self.seen.append((role, text))
            for k in range(n):
                r = self.reply(text, k)
                out.append(Trajectory(prompt_ids=torch.tensor([1]), response_ids=torch.tensor([2] * max(len(r), 1)),
                                      logprobs=torch.zeros(max(len(r), 1)), loss_mask=torch.ones(max(len(r), 1)),
                                      versions=torch.zeros(max(len(r), 1), dtype=torch.long), prompt_text=text,
                                      response_text=r, agent=self.name, role=role))
        return out


class ExactTask:
    """Question 'q<i>' with gold answer str(i); a response scores 1 when its stripped text equals the gold."""

    name = "exact"

    def prompt(self, row):
        return f"{row['question']} Answer:"

    def verify(self, row, response):
        ext = response.strip()
        return Verdict(float(ext == row["answer"]), {"extracted": ext})


def make(workflow, agents, **multi):
    cfg = Config()
    cfg.multi.workflow = workflow
    for k, v in multi.items():
        setattr(cfg.multi, k, v)
    return WORKFLOWS.get(workflow)(cfg, {a.name: a for a in agents}, ExactTask())


ROWS = [{"question": "q7", "answer": "7"}, {"question": "q3", "answer": "3"}]


def test_think_reason_passes_plan_text_and_pays_counterfactual_credit():
    thinker = Scripted("t", lambda text, k: f"plan{k}\n")
    # the Solver is right only when the plan is plan0 (joint) and, alone, only on its first sample of q7
    solver = Scripted("s", lambda text, k: ("7" if "q7" in text else "3") if "plan0" in text
                      else ("7" if ("q7" in text and k == 0 and "Plan" not in text) else "x"))
    wf = make("think_reason", [thinker, solver], credit="shapley_half", answer_penalty=0.5)
    eps = wf.rollout(ROWS, [10, 11], n=2)
    assert [e.group_id for e in eps] == [10, 10, 11, 11]
    solve_prompts = [t for r, t in solver.seen if r == "solve"]
    assert solve_prompts == ["q7 Plan: plan0 Answer:", "q7 Plan: plan1 Answer:", "q3 Plan: plan0 Answer:",
                             "q3 Plan: plan1 Answer:"]
    assert [t for r, t in solver.seen if r == "solo"] == ["q7 Answer:", "q3 Answer:"]
    assert [e.score for e in eps] == [1, 0, 1, 0]
    assert [e.info["solo"] for e in eps] == [[1.0, 0.0]] * 2 + [[0.0, 0.0]] * 2
    wf.credit(eps)
    # delta = joint - paired solo = [0, 0, 1, 0]; shapley halves
    assert [e.turns[0].reward for e in eps] == [0.0, 0.0, 0.5, 0.0]
    assert [e.turns[1].reward for e in eps] == [0.5, 0.0, 0.5, 0.0]
    assert all(e.turns[0].rewards["delta"] == e.score - e.turns[0].rewards["solo"] for e in eps)


class FixedNoise:
    """Stands in for RewardNoise: hands out the given values in order."""

    def __init__(self, values):
        self.values = list(values)

    def sample(self, n):
        out, self.values = self.values[:n], self.values[n:]
        assert len(out) == n
        return np.array(out)

    summary = staticmethod(RewardNoise.summary)


def test_think_reason_noise_contaminates_joint_and_solo_scores_before_credit():
    """The Thinker is paid the difference of the *noisy* scores; rates stay those of the true scores."""
    thinker = Scripted("t", lambda text, k: f"plan{k}\n")
    solver = Scripted("s", lambda text, k: ("7" if "q7" in text else "3") if "plan0" in text
                      else ("7" if ("q7" in text and k == 0 and "Plan" not in text) else "x"))
    wf = make("think_reason", [thinker, solver], credit="shapley_half")
    eps = wf.rollout(ROWS, [10, 11], n=2)               # joint [1, 0, 1, 0]; solo q7 [1, 0], q3 [0, 0]
    wf.contaminate(eps, FixedNoise([0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0]))  # joint noise, then solo per prompt
    m = wf.credit(eps)
    # noisy joint [1.1, 0.2, 1.3, 0.4]; noisy paired solo [2, 2, 3, 4]; halves of Δ and of the joint score
    assert [e.turns[0].reward for e in eps] == pytest.approx([-0.45, -0.9, -0.85, -1.8])
    assert [e.turns[1].reward for e in eps] == pytest.approx([0.55, 0.1, 0.65, 0.2])
    assert m["ccpo/help_rate"] == 0.25 and m["ccpo/hurt_rate"] == 0.0
    assert [e.turns[0].rewards["score"] for e in eps] == [1, 0, 1, 0]


def test_voting_noise_contaminates_each_answers_score_before_the_tally():
    answers = {"a": "7", "b": "7", "c": "5"}
    voters = [Scripted(n, lambda text, k, n=n: answers[n]) for n in "abc"]
    wf = make("voting", voters, credit="joint_plus", lam=0.5, tie_rule="none")
    eps = wf.rollout(ROWS[:1], [0], n=1)
    wf.contaminate(eps, FixedNoise([2.0, -0.5]))        # sorted answers "5", "7": R("5") = 2.0, R("7") = 0.5
    m = wf.credit(eps)
    # team answer "7" scores 0.5; without a or b the 7-5 tie gives no answer (0); without c it is still 0.5
    assert [t.reward for t in eps[0].turns] == pytest.approx([0.5 + 0.25, 0.5 + 0.25, 0.5])
    assert [t.rewards["credit"] for t in eps[0].turns] == [1.0, 1.0, 0.0]
    assert m["vote/team_accuracy"] == 1.0 and m["vote/c/pivotal_rate"] == 0.0


def test_thinker_stating_the_answer_is_penalised():
    thinker = Scripted("t", lambda text, k: "it is 7" if "q7" in text else "add them")
    solver = Scripted("s", lambda text, k: "7" if "q7" in text else "3")
    wf = make("think_reason", [thinker, solver], credit="shared", answer_penalty=0.5)
    eps = wf.rollout(ROWS, [0, 1], n=1)
    m = wf.credit(eps)
    assert [e.turns[0].reward for e in eps] == [0.5, 1.0] and m["ccpo/leak_rate"] == 0.5
    assert states_answer("it is 7.", 7) and not states_answer("it is 17", 7) and not states_answer("7.5", 7)


def test_think_reason_evaluate_reports_lazy_agent_gap():
    thinker = Scripted("t", lambda text, k: "use 7" if "q7" in text else "use 3")
    solver = Scripted("s", lambda text, k: text.split("use ")[1].split(" ")[0] if "use " in text else "x")
    out = make("think_reason", [thinker, solver]).evaluate(ROWS, batch_size=1)
    assert out["eval/team_accuracy"] == 1.0 and out["eval/lazy_accuracy"] == 0.0 and out["eval/lazy_gap"] == 1.0
    assert out["eval/solo_accuracy"] == 0.0 and out["eval/help_rate"] == 1.0 and out["eval/leak_rate"] == 1.0


def test_voting_pays_each_voter_its_counterfactual_credit():
    answers = {"a": "7", "b": "7", "c": "5"}
    voters = [Scripted(n, lambda text, k, n=n: answers[n]) for n in "abc"]
    wf = make("voting", voters, credit="joint_plus", lam=0.5, tie_rule="none")
    eps = wf.rollout(ROWS[:1], [0], n=1)
    assert eps[0].score == 1.0
    m = wf.credit(eps)
    assert [t.rewards["credit"] for t in eps[0].turns] == [1.0, 1.0, 0.0]
    assert [t.reward for t in eps[0].turns] == [1.5, 1.5, 1.0]
    assert m["vote/team_accuracy"] == 1.0 and m["vote/c/accuracy"] == 0.0 and m["vote/c/pivotal_rate"] == 0.0
    ev = wf.evaluate(ROWS, batch_size=8)
    assert ev["eval/team_accuracy"] == 0.5 and ev["eval/a/accuracy"] == 0.5 and ev["eval/c/accuracy"] == 0.0


def test_answer_critique_rewrite_routes_rewards_in_both_directions():
    # P answers wrong and fixes it after Q's critique; Q answers right, and P's critique breaks it
    def p_reply(text, k):
        return "7" if "Revised" in text else ("looks off" if "Critique:" in text else "8")

    def q_reply(text, k):
        return "1" if "Revised" in text else ("fix: 7" if "Critique:" in text else "7")

    p, q = Scripted("p", p_reply), Scripted("q", q_reply)
    wf = make("answer_critique_rewrite", [p, q], credit="cross_improvement", answer_penalty=0.25)
    eps = wf.rollout(ROWS[:1], [4], n=1)
    assert [e.info["solver"] for e in eps] == ["p", "q"]
    (pa, qc, pr), (qa, pc, qr) = eps[0].turns, eps[1].turns
    assert (pa.agent, pa.role, qc.agent, qc.role, pr.agent, pr.role) == ("p", "answer", "q", "critique", "p",
                                                                         "rewrite")
    assert qc.prompt_text == "q7 Answer: 8 Critique:" and pr.prompt_text == "q7 Answer: 8 Critique: fix: 7 Revised:"
    wf.credit(eps)
    assert (pa.reward, pr.reward) == (0.0, 1.0)
    assert qc.reward == 1.0 - 0.25  # cross-improvement +1, minus the penalty for handing over the answer "7"
    assert (qa.reward, pc.reward, qr.reward) == (1.0, -1.0, 0.0)


def test_workflow_errors_name_the_problem():
    with pytest.raises(ValueError, match="does not fit workflow"):
        make("voting", [Scripted("a", str), Scripted("b", str)], credit="v1")
    bad = Scripted("t", str, prompts={"think": "{question} {hint}"})
    wf = make("think_reason", [bad, Scripted("s", str)])
    with pytest.raises(TemplateError, match="agent 't', role 'think'.*hint"):
        wf.rollout(ROWS, [0, 1], n=1)
