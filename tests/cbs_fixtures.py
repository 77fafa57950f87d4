"""Hand-made trajectories and a scripted stand-in for the learner's log-prob pass (CBS tests)."""

import torch

from credo.trajectory import Trajectory


def traj(group: int, reward: float, adv=0.0, n_tok: int = 3, finish: str = "stop", info=None) -> Trajectory:
    """A response of ``n_tok`` tokens to a 2-token prompt with raw score = reward."""
    return Trajectory(prompt_ids=torch.tensor([1, 2]), response_ids=torch.arange(3, 3 + n_tok),
                      logprobs=torch.zeros(n_tok), loss_mask=torch.ones(n_tok),
                      versions=torch.zeros(n_tok, dtype=torch.long), group_id=group, finish_reason=finish,
                      rewards={"score": reward}, reward=reward, advantage=adv, info=dict(info or {}))


class ScriptedLearner:
    """What ``policy_stats`` reads from a learner, with scripted numbers: every token's entropy is ``self.entropy``
    and its log-prob is ``self.logprob[id(trajectory)]`` (default ``self.default_logprob``)."""

    model = None

    def __init__(self, entropy: float = 1.0, default_logprob: float = -1.0):
        self.entropy, self.default_logprob, self.logprob = entropy, default_logprob, {}

    def activate(self):
        pass

    def micro_batches(self, rows):
        return [rows]

    def logprobs(self, model, rows, with_entropy=False):
        width = max(1, max(t.num_tokens for t in rows))
        lp, mask = torch.zeros(len(rows), width), torch.zeros(len(rows), width)
        for i, t in enumerate(rows):
            lp[i, : t.num_tokens] = self.logprob.get(id(t), self.default_logprob)
            mask[i, : t.num_tokens] = 1
        return lp, mask, torch.full((len(rows), width), float(self.entropy))
