"""The reward model as the RL trainer's reward, and R2M's per-step update (arXiv 2601.22664, Algorithm 1).

``RMReward.score(trajs, step)`` runs at rollout: it captures the states the fusion reads (the policy's last-layer
states of prompt + response, from the policy version that sampled them), scores every response in batches on the
RM's device and writes ``t.rewards["rm"]`` and ``t.reward``. ``RMReward.after_step(trajs, step)`` runs after the
policy update: it refreshes the policy states with the updated policy, recomputes the rewards with gradient and takes
one GREBT step on the fusion and head (best/worst pairs chosen by the rollout's annotation rewards).
"""

from __future__ import annotations

import torch

from credo.config import RMConfig
from credo.models import load_policy
from credo.models.device import resolve_device
from credo.rewards.pairs import read_pairs
from credo.rm.bt import load_reward_model, load_trained_state, train_bradley_terry, trained_state
from credo.rm.fusion import omega
from credo.rm.losses import grebt_loss
from credo.rm.model import RewardModel, last_layer_states, pad_states
from credo.rm.pairs import task_pairs

FUSIONS = ("none", "policy", "noise", "self")
UPDATES = ("none", "grebt")


class RMReward:
    """A :class:`RewardModel` wired to a policy: rollout scoring, the per-step update, and its checkpoint state."""

    def __init__(self, cfg: RMConfig, rm: RewardModel, policy, policy_pad_id: int, total_steps: int,
                 trained_trunk: bool = False):
        self.cfg, self.rm, self.policy, self.pad_id, self.total = cfg, rm, policy, policy_pad_id, total_steps
        self.trained_trunk = trained_trunk
        self.noise = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)
        self.opt = None
        if cfg.update == "grebt":
            self.opt = torch.optim.AdamW(rm.trainable(cfg.update_fusion), lr=cfg.lr)
        self.scored: list[float] = []  # rollout rewards since the last pop_metrics (several rounds per step)
        self.last_omega = 1.0

    def omega(self, step: int) -> float:
        return omega(step, self.total, self.cfg.omega_floor)

    def states(self, trajs) -> list[torch.Tensor] | None:
        """The [S_i, D] states the fusion reads for each trajectory (CPU), per ``rm.fusion``."""
        kind = self.cfg.fusion
        if kind == "policy":
            return last_layer_states(self.policy, [torch.cat([t.prompt_ids.cpu(), t.response_ids.cpu()])
                                                   for t in trajs], self.pad_id, self.cfg.batch_size)
        if kind == "noise":
            d = self.rm.fusion.k.in_features
            return [torch.randn((len(t.prompt_ids) + t.num_tokens - 1, d), generator=self.noise, device="cpu")
                    for t in trajs]
        if kind == "self":
            return [t.info["rm_self_states"] for t in trajs]
        return None

    def rewards(self, trajs, step: int) -> torch.Tensor:
        """Rewards [N] (on the RM's device, with gradient when enabled) from the cached RTEs and states."""
        w, out = self.omega(step), []
        for i in range(0, len(trajs), self.cfg.batch_size):
            rows = trajs[i:i + self.cfg.batch_size]
            rte = torch.stack([t.info["rm_rte"] for t in rows]).to(self.rm.device)
            if self.cfg.fusion == "none":
                out.append(self.rm(rte))
                continue
            states, mask = pad_states([t.info["rm_states"] for t in rows], self.rm.device)
            out.append(self.rm(rte, states, mask, w))
        return torch.cat(out)

    @torch.no_grad()
    def score(self, trajs, step: int) -> None:
        """Annotate a rollout batch in place: ``t.rewards["rm"]``, ``t.reward``, ``t.info["rm_annotation"]``."""
        if not trajs:
            return
        rte, own = self.rm.trunk_states([t.prompt_text + t.response_text for t in trajs], self.cfg.batch_size,
                                        keep_all=self.cfg.fusion == "self")
        for i, t in enumerate(trajs):
            t.info["rm_rte"] = rte[i].cpu()
            if own is not None:
                t.info["rm_self_states"] = own[i]
        states = self.states(trajs)
        for i, t in enumerate(trajs):
            if states is not None:
                t.info["rm_states"] = states[i]
                t.info["rm_states_version"] = step
        r = self.rewards(trajs, step).float().cpu()
        for i, t in enumerate(trajs):
            t.rewards["rm"] = t.reward = t.info["rm_annotation"] = float(r[i])
        self.scored += r.tolist()
        self.last_omega = self.omega(step)

    def pop_metrics(self) -> dict[str, float]:
        """Mean RM reward of the rollouts scored since the last call, and ω."""
        if not self.scored:
            return {}
        out = {"rm/reward_mean": sum(self.scored) / len(self.scored), "rm/omega": self.last_omega}
        self.scored = []
        return out

    def after_step(self, trajs, step: int) -> dict[str, float]:
        """The per-step GREBT update (``rm.update=grebt``) after the policy update of ``step``; -> metrics."""
        if self.opt is None or not trajs:
            return {}
        if self.cfg.fusion == "policy" and self.cfg.refresh:
            for t, s in zip(trajs, self.states(trajs)):
                t.info["rm_states"], t.info["rm_states_version"] = s, step + 1
        r = self.rewards(trajs, step)
        loss, metrics = grebt_loss(r, [t.group_id for t in trajs], [t.info["rm_annotation"] for t in trajs],
                                   self.cfg.alpha, self.cfg.std_eps)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in self.opt.param_groups for p in g["params"] if p.grad is not None]
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip)) if params else 0.0
        if params and torch.isfinite(torch.tensor(norm)):
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return metrics | {"rm/loss": float(loss.detach()), "rm/grad_norm": norm}

    def state_dict(self) -> dict:
        return {"weights": trained_state(self.rm, self.trained_trunk),
                "optimizer": self.opt.state_dict() if self.opt is not None else None,
                "noise_rng": self.noise.get_state()}

    def load_state_dict(self, state: dict) -> None:
        load_trained_state(self.rm, state["weights"], "checkpoint reward_model")
        if self.opt is not None:
            self.opt.load_state_dict(state["optimizer"])
        self.noise.set_state(state["noise_rng"])


def build_rm_reward(cfg, policy, policy_tok, policy_device, task=None) -> tuple[RMReward, dict[str, float]]:
    """The run's :class:`RMReward` from ``cfg.rm`` (a full :class:`~credo.config.Config`): the trunk loaded like a
    policy from ``model`` overridden by ``rm.model``, the fusion sized for the policy's width, then ``rm.load`` and
    Bradley-Terry pre-training on ``rm.pairs``. Built under its own RNG (``rm.seed``), so arms that differ only in
    the RM share the run's random stream. ``rm.pairs=task`` pre-trains on gold pairs built from ``task``'s training
    rows (:func:`~credo.rm.pairs.task_pairs`). -> (reward, pre-training metrics)."""
    from credo.config import replace_from

    r = cfg.rm
    device = resolve_device(r.device) if r.device else policy_device
    pairs = None  # a bad file fails before any model is built
    if r.pretrain_steps > 0:
        pairs = task_pairs(task, task.rows("train"), r.seed) if r.pairs == "task" else read_pairs(r.pairs)
    mcfg = replace_from(cfg.model, r.model, "rm.model")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r.seed)
        trunk, tok, _ = load_policy(mcfg, device, adapter="rm")
        trunk.eval().requires_grad_(False)
        width = trunk.config.hidden_size if r.fusion == "self" else policy.config.hidden_size
        rm = RewardModel(trunk, tok, d_policy=width, d=r.d if r.fusion != "none" else 0)
        if r.load:
            load_reward_model(r.load, rm)
        metrics = {}
        if pairs is not None:
            metrics = train_bradley_terry(rm, pairs, r.pretrain_steps, r.pretrain_lr, r.pretrain_batch, r.seed,
                                          r.train_trunk)
    for p in rm.trainable():
        p.requires_grad_(True)
    return RMReward(r, rm, policy, policy_tok.pad_token_id, cfg.train.steps, trained_trunk=r.train_trunk), metrics
