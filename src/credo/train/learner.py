"""One trainable policy: optimizer, LR schedule, and the policy-gradient update over a rollout batch.

Everything runs on the model's device: rollout records stay on CPU and are padded onto it per micro-batch. With
``train.mixed_precision`` forwards are autocast (fp16 adds a gradient scaler); with LoRA only the adapter is trained
and the KL reference is the same base with the adapter disabled.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from transformers import PreTrainedModel

from credo.config import AlgoConfig, SamplingConfig, TrainConfig
from credo.losses import POLICY_LOSSES, agg_loss, kl_k3
from credo.models.device import autocast, checkpointing, enable_checkpointing, model_device
from credo.models.forward import entropy, response_logits, response_logits_full, right_pad, token_logprobs
from credo.models.lora import activate, adapter_parameters, is_peft
from credo.trajectory import Trajectory


def truncated_is(loss: torch.Tensor, old: torch.Tensor, engine: torch.Tensor, mask: torch.Tensor,
                 cap: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Engine-vs-trainer log-prob gap and truncated importance sampling, all [B, T].

    ``old`` are the trainer's log-probs of the behaviour policy, ``engine`` those the engine reported when sampling.
    With ``cap > 0`` each token's loss is weighted by ``min(exp(old - engine), cap)`` (detached). Metrics: mean
    |old - engine| over valid tokens, and with ``cap`` the share of capped weights and the mean weight."""
    valid = mask > 0
    diff = torch.where(valid, (old - engine).detach(), torch.zeros_like(old))
    n = max(float(valid.sum()), 1.0)
    metrics = {"rollout/logprob_diff_mean": float(diff.abs().sum()) / n}
    if cap > 0:
        w = diff.clamp(max=20.0).exp()
        metrics["rollout/tis_capped_frac"] = float((valid & (w > cap)).sum()) / n
        w = w.clamp(max=cap)
        metrics["rollout/tis_weight_mean"] = float(torch.where(valid, w, torch.zeros_like(w)).sum()) / n
        loss = loss * w
    return loss, metrics


def lr_lambda(schedule: str, warmup: int, total: int):
    """Multiplier on the base LR per optimizer step: linear warm-up, then constant | linear | cosine decay to 0."""
    if schedule not in ("constant", "linear", "cosine"):
        raise ValueError(f"train.lr_schedule must be constant, linear or cosine, got {schedule!r}")

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = min(1.0, (step - warmup) / max(1, total - warmup))
        return {"constant": 1.0, "linear": 1.0 - frac, "cosine": 0.5 * (1 + math.cos(math.pi * frac))}[schedule]

    return f


class Learner:
    """Holds a policy and its optimizer; ``update(trajectories)`` runs epochs × mini-batches × micro-batches.

    The loss of a mini-batch is normalised by its *global* token / sequence counts, so gradient accumulation over
    micro-batches gives the same gradient as one big batch.
    """

    def __init__(self, model: PreTrainedModel, pad_id: int, algo: AlgoConfig, train: TrainConfig,
                 sampling: SamplingConfig, reference: PreTrainedModel | None = None, adapter: str | None = None):
        self.model, self.pad_id, self.algo, self.train, self.sampling = model, pad_id, algo, train, sampling
        self.adapter = adapter if is_peft(model) else None
        self.device = model_device(model)
        POLICY_LOSSES.get(algo.policy_loss)  # fail early on an unknown name
        params = adapter_parameters(model, self.adapter) if self.adapter else \
            [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=train.lr, betas=tuple(train.betas), weight_decay=train.weight_decay)
        total = train.steps * train.epochs * train.mini_batches
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(train.lr_schedule, train.warmup_steps,
                                                                           total))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=train.mixed_precision == "fp16")
        if train.gradient_checkpointing and not checkpointing(model):
            enable_checkpointing(model)
        self.ref = None
        # The KL reference: the base with the adapter disabled (LoRA), else a frozen copy of the policy as it is now.
        self.adapter_reference = algo.kl_coef > 0 and self.adapter is not None
        if algo.kl_coef > 0 and not self.adapter_reference:
            self.ref = (reference if reference is not None else copy.deepcopy(model)).eval().requires_grad_(False)

    @property
    def has_reference(self) -> bool:
        return self.ref is not None or self.adapter_reference

    def apply(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(self, *args)``: an update rule of its own (a module-level function, e.g. HACPO's) run where the
        learner lives (the Ray backend's proxy runs it in the policy's actor)."""
        return fn(self, *args)

    def activate(self) -> None:
        """Make this learner's adapter the active one (several learners may share one base model)."""
        activate(self.model, self.adapter)

    @property
    def recompute_old(self) -> bool:
        """With one optimizer step per batch the old policy is the current one: old log-probs = detached current."""
        return self.train.epochs * self.train.mini_batches > 1

    def logprobs(self, model, rows: list[Trajectory], with_entropy: bool = False):
        """Log-probs of each row's response tokens [N, T] (float32, on the model's device), the response mask [N, T]
        and, if asked, the per-token entropy [N, T]; forwards autocast in ``train.mixed_precision``."""
        forward = response_logits_full if model.training and checkpointing(model) else response_logits
        with autocast(self.device, self.train.mixed_precision):
            logits, rmask = forward(model, [t.prompt_ids for t in rows], [t.response_ids for t in rows], self.pad_id)
        toks = right_pad([t.response_ids for t in rows], self.pad_id, torch.long, self.device)
        lp = token_logprobs(logits, toks, self.sampling.temperature)
        ent = entropy(logits, self.sampling.temperature) if with_entropy else None
        return lp, rmask.float(), ent

    def reference_logprobs(self, rows: list[Trajectory]) -> torch.Tensor:
        """Reference log-probs [N, T]: the separate reference model, or the base with the adapter disabled."""
        if self.ref is not None:
            return self.logprobs(self.ref, rows)[0]
        with self.model.disable_adapter():
            return self.logprobs(self.model, rows)[0]

    def pad(self, seqs: list[torch.Tensor]) -> torch.Tensor:
        """Per-row float vectors → [N, T] float32 on the model's device."""
        return right_pad(seqs, 0.0, torch.float32, self.device)

    def micro_batches(self, rows: list[Trajectory]) -> list[list[Trajectory]]:
        size = self.train.micro_batch_size or max(len(rows), 1)
        return [rows[i:i + size] for i in range(0, len(rows), size)]

    @torch.no_grad()
    def attach_logprobs(self, trajs: list[Trajectory]) -> None:
        """Store old (and reference) log-probs in ``t.info`` before any update of this batch."""
        self.activate()
        for rows in self.micro_batches(trajs):
            if self.recompute_old:
                lp, _, _ = self.logprobs(self.model, rows)
                for i, t in enumerate(rows):
                    t.info["old_logprobs"] = lp[i, : t.num_tokens]
            if self.has_reference:
                lp = self.reference_logprobs(rows)
                for i, t in enumerate(rows):
                    t.info["ref_logprobs"] = lp[i, : t.num_tokens]

    def _loss(self, rows: list[Trajectory], n_tok: float, n_seq: float) -> tuple[torch.Tensor, dict, float]:
        lp, rmask, ent = self.logprobs(self.model, rows, with_entropy=True)
        mask = rmask * self.pad([t.loss_mask for t in rows])
        old = self.pad([t.info["old_logprobs"] for t in rows]) if self.recompute_old else lp.detach()
        adv = self.pad([t.advantage if torch.is_tensor(t.advantage)
                        else torch.full((t.num_tokens,), t.advantage, device="cpu") for t in rows])
        loss_mat, metrics = POLICY_LOSSES.get(self.algo.policy_loss)(lp, old, adv, mask, self.algo)
        tokens = float(mask.sum())
        engine_lp = self.engine_logprobs(rows)
        if engine_lp is not None:
            loss_mat, tis = truncated_is(loss_mat, old, engine_lp, mask, self.algo.tis_cap)
            metrics |= tis
        if self.has_reference:
            kl = kl_k3(lp, self.pad([t.info["ref_logprobs"] for t in rows]))
            loss_mat = loss_mat + self.algo.kl_coef * kl
            metrics["actor/kl"] = float((kl.detach() * mask).sum() / max(tokens, 1.0))
        norm = self.algo.loss_norm_const or float(self.sampling.max_new_tokens)
        loss = agg_loss(loss_mat, mask, self.algo.loss_agg, num_tokens=n_tok, num_seqs=n_seq, norm_const=norm)
        metrics["actor/entropy"] = float((ent * mask).sum() / max(tokens, 1.0))
        return loss, metrics, tokens

    def engine_logprobs(self, rows: list[Trajectory]) -> torch.Tensor | None:
        """The engine's log-probs of the rows' tokens [N, T] (None when a row has none, e.g. text-only turns)."""
        if any(t.logprobs is None or t.logprobs.numel() != t.num_tokens for t in rows):
            return None
        return self.pad([t.logprobs for t in rows])

    def update(self, trajs: list[Trajectory]) -> dict[str, float]:
        """Policy-gradient update on a rollout batch (advantages already set). Returns averaged metrics."""
        self.model.train()
        self.activate()
        trajs = sorted(trajs, key=lambda t: t.group_id)  # groups contiguous: shared prompts forwarded once
        groups = sorted({t.group_id for t in trajs})
        sums: dict[str, float] = defaultdict(float)
        weight = 0.0
        skipped = steps = 0
        gen = torch.Generator(device="cpu").manual_seed(self.train.seed * 1_000_003 + self.sched.last_epoch)
        for _ in range(self.train.epochs):
            order = groups
            if self.train.mini_batches > 1:
                order = [groups[i] for i in torch.randperm(len(groups), generator=gen, device="cpu")]
            per = max(1, math.ceil(len(order) / self.train.mini_batches))  # an empty batch (all groups dropped) skips
            for k in range(0, len(order), per):
                chosen = set(order[k:k + per])
                mb = self.shard([t for t in trajs if t.group_id in chosen])
                n_tok, n_seq = self.global_counts(float(sum(float(t.loss_mask.sum()) for t in mb)),
                                                  float(sum(1 for t in mb if float(t.loss_mask.sum()) > 0)))
                if n_tok == 0:
                    continue
                for rows in self.micro_batches(mb):
                    loss, metrics, tokens = self._loss(rows, n_tok, n_seq)
                    self.backward(loss)
                    sums["actor/loss"] += float(loss.detach())
                    for key, v in metrics.items():
                        sums[key] += v * tokens
                    weight += tokens
                self.reduce_gradients()
                ok, grad_norm = self.step()
                steps += 1
                skipped += not ok
                sums["actor/grad_norm"] += grad_norm if ok else 0.0
        sums, weight = self.reduce_metrics(sums, weight)
        out = {k: v / max(weight, 1.0) for k, v in sums.items() if k not in ("actor/loss", "actor/grad_norm")}
        out["actor/loss"] = sums["actor/loss"] / max(steps, 1)
        out["actor/grad_norm"] = sums["actor/grad_norm"] / max(steps - skipped, 1)
        out["actor/skipped_updates"] = float(skipped)
        out["actor/updates"] = float(steps)
        out["actor/lr"] = self.sched.get_last_lr()[0]
        return out

    # Hooks of data-parallel training (credo.distributed.DataParallelLearner); one process: identities.
    def shard(self, rows: list[Trajectory]) -> list[Trajectory]:
        """The rows of a mini-batch this process trains on."""
        return rows

    def global_counts(self, n_tok: float, n_seq: float) -> tuple[float, float]:
        """Valid tokens and sequences of the whole mini-batch, from this process's share."""
        return n_tok, n_seq

    def reduce_gradients(self) -> None:
        """Sum the accumulated gradients over processes (before clipping and the optimizer step)."""

    def reduce_metrics(self, sums: dict[str, float], weight: float) -> tuple[dict[str, float], float]:
        """Metric sums (token-weighted) and their weight over all processes."""
        return sums, weight

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate a micro-batch loss (scaled when training in fp16)."""
        self.scaler.scale(loss).backward()

    def step(self) -> tuple[bool, float]:
        """Unscale, clip, check, step. A non-finite gradient skips the update (logged as actor/skipped_updates)."""
        params = [p for g in self.opt.param_groups for p in g["params"] if p.grad is not None]
        self.scaler.unscale_(self.opt)
        max_norm = self.train.grad_clip if self.train.grad_clip > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm)) if params else 0.0
        ok = math.isfinite(norm)
        if ok:
            self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return ok, norm if ok else float("nan")

    def state_dict(self) -> dict:
        out = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict()}
        if self.scaler.is_enabled():
            out["scaler"] = self.scaler.state_dict()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
