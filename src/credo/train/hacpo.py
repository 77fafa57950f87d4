"""HACPO trainer (``multi.workflow: hacpo``): heterogeneous agents share verified rollouts, each deployable alone.

One RL step: every agent samples ``sampling.n`` answers per prompt of a shared batch (workflow ``hacpo``); the
verifier scores them; the capability tracker records each agent's batch statistic; then every scheduled learner k
is updated on its pool = its own samples (token-in/token-out) + the other agents' samples re-tokenised from text.

Arms (``hacpo.arm``), all in this one harness:

- ``gspo``: no sharing; GRPO advantages over the agent's own group, GSPO loss. GSPO×2 = this arm with ``sampling.n``
  doubled (twice the rollouts);
- ``naive``: shared pool, plain joint-group mean and joint std, symmetric cross clip, no omega, no exponential IS;
- ``hacpo``: capability-aware baseline, omega(src, k) weights, stepwise clip [1 - delta + m·delta_step, 1] and
  exponential IS on cross rows. Ablations: ``hacpo.capability_baseline=false``, ``hacpo.omega_loss=false``,
  ``hacpo.stepwise_clip=false``.
"""

from __future__ import annotations

import torch

from credo.credit import compute_advantages
from credo.credit.capability import joint_advantages
from credo.train.hacpo_update import attach_old, hacpo_update
from credo.train.multi import MultiAgentTrainer, moments
from credo.trajectory import Trajectory
from credo.workflows.pool import retokenize

ARMS = ("hacpo", "naive", "gspo")


class HACPOTrainer(MultiAgentTrainer):
    """MultiAgentTrainer whose step builds a pool per learner; the tracker is checkpointed with the workflow.

    The step touches a model only through the policy's engine and learner interface (``attach_logprobs``,
    ``has_reference``, ``apply(hacpo_update, ...)``), so the Ray backend runs this very step with each agent's
    policy in its own actor (:class:`credo.distributed.ray_backend.RayHACPOTrainer`). ``validate()`` checks
    ``hacpo.arm`` against ARMS."""

    @property
    def index(self) -> dict[str, int]:
        """Agent name -> its position in ``multi.agents`` (the row/column of the omega matrix)."""
        return {name: i for i, name in enumerate(self.agents)}

    def pool_for(self, name: str, every: list[Trajectory]) -> tuple[list[Trajectory], list[Trajectory]]:
        """(own rows, cross rows re-tokenised for ``name``'s tokenizer); no cross rows in the gspo arm."""
        own = [t for t in every if t.agent == name]
        if self.cfg.hacpo.arm == "gspo":
            return own, []
        p = self.agents[name].policy
        prompt = {t.group_id: t.prompt_text for t in own}
        cross = [retokenize(t, p.tok, prompt[t.group_id], p.model_cfg.chat_template) for t in every
                 if t.agent != name]
        return own, [t for t in cross if t is not None]

    def advantages(self, name: str, own: list[Trajectory], cross: list[Trajectory],
                   omega: torch.Tensor | None) -> dict[str, float]:
        """Write ``t.advantage`` (and a cross row's loss weight) for learner ``name``."""
        h = self.cfg.hacpo
        if h.arm == "gspo":
            return compute_advantages(own, self.cfg.algo)
        pool = own + cross
        index = self.index
        k = index[name]
        src = torch.tensor([index[t.agent] for t in pool])
        use = omega if h.arm == "hacpo" and h.capability_baseline else None
        adv, m = joint_advantages(torch.tensor([t.reward for t in pool]), torch.tensor([t.group_id for t in pool]),
                                  src, k, use)
        for t, a in zip(pool, adv.tolist()):
            t.advantage = a
        for t in cross:
            t.info["weight"] = float(omega[index[t.agent], k]) if h.arm == "hacpo" and h.omega_loss else 1.0
        return m

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        episodes, metrics = self.episodes()
        every = [t for e in episodes for t in e.turns]
        if self.noise is not None:
            metrics |= self.noise(every)
        tracker = self.workflow.tracker
        with torch.device("cpu"):  # capability and advantages: host-side statistics on scalar rewards
            tracker.update({n: [t.reward for t in every if t.agent == n] for n in self.agents})
            metrics |= tracker.metrics()
            omega = tracker.matrix()
        for name in self.scheduled():
            learner = self.agents[name].policy.learner
            own, cross = self.pool_for(name, every)
            with torch.device("cpu"):
                adv = self.advantages(name, own, cross, omega)
            metrics |= {f"{name}/{k}": v for k, v in adv.items()}
            metrics[f"{name}/adv_mean"], metrics[f"{name}/adv_var"] = moments([float(t.advantage) for t in own])
            with self.timer("old_logprob"):
                attach_old(learner, own, cross)
            with self.timer("update"):
                up = learner.apply(hacpo_update, own, cross, cfg.hacpo, cfg.hacpo.arm == "naive")
            metrics |= {f"{name}/{k}": v for k, v in up.items()}
        for name in self.agents:
            mean, var = moments([t.reward for t in every if t.agent == name])
            metrics[f"{name}/reward_mean"], metrics[f"{name}/reward_var"] = mean, var
            mine = [t.num_tokens for t in every if t.agent == name]
            metrics[f"{name}/length_mean"] = sum(mine) / max(len(mine), 1)
        metrics |= {f"schedule/{name}": float(name in self.scheduled()) for name in self.trainable}
        self.step += 1
        return self.batch_metrics(every) | metrics | self.timer.pop()
