"""Multi-agent RL: a workflow produces episodes, its credit pays every turn, then each scheduled agent's turns are
group-normalised per (agent, role) and its policy is updated. Every agent keeps its own policy unless it shares one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from credo.agents import build_agents
from credo.config import Config
from credo.credit import compute_advantages
from credo.models import encode_prompt
from credo.models.lora import activate
from credo.selection import apply_overlong
from credo.sft.trainer import sft_train
from credo.train.checkpoint import export_policy, save_checkpoint
from credo.train.rl import RLTrainer
from credo.workflows import WORKFLOWS

SCHEDULES = ("simultaneous", "alternating")


def moments(values: list[float]) -> tuple[float, float]:
    """(mean, population variance) of a list of numbers."""
    x = torch.tensor(values, dtype=torch.float64, device="cpu")
    return float(x.mean()), float(x.var(unbiased=False))


class MultiAgentTrainer(RLTrainer):
    """Trains the agents of ``multi.agents`` in the topology ``multi.workflow`` (``run``/``report`` as RLTrainer)."""

    def __init__(self, cfg: Config, resume: bool = False, overwrite: bool = False, *, models: dict | None = None,
                 data: Any = None):
        """``models`` maps an agent name to a ``(model, tokenizer)`` pair used instead of its ``model`` section
        (ignored when resuming); ``data`` as for :class:`RLTrainer`."""
        ckpt = self._open(cfg, resume, overwrite, data)
        workflow_cls = WORKFLOWS.get(cfg.multi.workflow)
        self.agents, self.policies = build_agents(cfg, self.run_dir, ckpt, models)
        self.start_workflow(workflow_cls, ckpt)

    def start_workflow(self, workflow_cls: type, ckpt: Path | None) -> None:
        """The rest of ``__init__`` once ``self.agents`` and ``self.policies`` are built (also run by the Ray
        backend's trainer): the workflow and its prompt-length check, SFT warm start (new runs), the trainable
        agents, the checkpoint's learner and workflow state (resumed runs), logging."""
        cfg = self.cfg
        self.workflow = workflow_cls(cfg, self.agents, self.task)
        self.workflow.check_prompt_lengths(self.train_rows + self.eval_rows)
        if ckpt is None and cfg.sft.steps > 0:
            self.sft_metrics = self.warm_start()
        self.trainable = [a.name for a in self.agents.values() if a.trainable]
        state = self._restore(ckpt)
        if state is not None:
            for name, s in state["learners"].items():
                self.policies[name].learner.load_state_dict(s)
            self.workflow.load_state_dict(state["workflow"])
        self._start_logging(ckpt)

    def warm_start(self) -> dict[str, float]:
        """SFT every agent that has an ``sft_prompt`` on the training rows (prompt/target templates over row fields)."""
        out: dict[str, float] = {}
        rows = self.train_rows[: self.cfg.sft.size]
        for agent in self.agents.values():
            if not agent.cfg.sft_prompt:
                continue
            p = agent.policy
            activate(p.model, p.adapter)
            examples = [(encode_prompt(p.tok, agent.cfg.sft_prompt.format(**r), p.model_cfg.chat_template),
                         p.tok(agent.cfg.sft_target.format(**r), add_special_tokens=False)["input_ids"]
                         + [p.tok.eos_token_id]) for r in rows]
            with tqdm(total=self.cfg.sft.steps, disable=not self.cfg.log.progress, desc=f"sft {agent.name}") as bar:
                m = sft_train(p.model, p.tok.pad_token_id, examples, self.cfg.sft, seed=self.cfg.train.seed,
                              log=lambda *_: bar.update(1), mixed_precision=self.cfg.train.mixed_precision)
            out |= {f"{agent.name}/{k}": v for k, v in m.items()}
        return out

    def scheduled(self) -> list[str]:
        """Agents updated at the current step: all trainable ones, or one at a time for ``multi.period`` steps."""
        if self.cfg.multi.schedule == "simultaneous" or not self.trainable:
            return list(self.trainable)
        return [self.trainable[(self.step // self.cfg.multi.period) % len(self.trainable)]]

    def episodes(self) -> tuple[list, dict[str, float]]:
        """Sample the next prompt batch through the workflow and let it pay every turn -> (episodes, metrics)."""
        rows = [self.train_rows[i] for i in self.cursor.take(self.cfg.train.prompts_per_step)]
        gids = list(range(self.next_group, self.next_group + len(rows)))
        self.next_group += len(rows)
        with self.timer("generate"):
            episodes = self.workflow.rollout(rows, gids, self.cfg.sampling.n, version=self.step)
        with self.timer("reward"), torch.device("cpu"):  # credit is host-side bookkeeping on scalar rewards
            metrics = {}
            if self.noise is not None and self.workflow.noisy_scores:
                metrics = self.workflow.contaminate(episodes, self.noise)
            return episodes, metrics | self.workflow.credit(episodes)

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        episodes, metrics = self.episodes()
        active = self.scheduled()
        every = [t for e in episodes for t in e.turns]
        trajs = [t for t in every if t.agent in active]
        if self.noise is not None and not self.workflow.noisy_scores:
            metrics |= self.noise(trajs)
        by_key: dict[tuple[str, str], list] = defaultdict(list)
        for t in every:
            by_key[(t.agent, t.role)].append(t)
        for (name, role), ts in by_key.items():
            agent = self.agents[name]
            if name in active:
                apply_overlong(ts, cfg.algo, agent.sampling.max_new_tokens)
                algo = replace(cfg.algo, advantage=self.workflow.advantage) if self.workflow.advantage else cfg.algo
                adv = compute_advantages(ts, algo)
                metrics[f"{name}/{role}/zero_adv_frac"] = adv.get("critic/zero_std_frac", 0.0)
            mean, var = moments([t.reward for t in ts])
            metrics |= {f"{name}/{role}/reward_mean": mean, f"{name}/{role}/reward_var": var,
                        f"{name}/{role}/score_mean": sum(t.score for t in ts) / len(ts),
                        f"{name}/{role}/length_mean": sum(t.num_tokens for t in ts) / len(ts)}
            if name in active:
                metrics[f"{name}/{role}/adv_mean"], metrics[f"{name}/{role}/adv_var"] = \
                    moments([float(t.advantage) for t in ts])
        for pname, policy in self.policies.items():
            mine = [t for t in trajs if self.agents[t.agent].policy is policy]
            if not mine or policy.learner is None:
                continue
            with self.timer("old_logprob"):
                policy.learner.attach_logprobs(mine)
            with self.timer("update"):
                metrics |= {f"{pname}/{k}": v for k, v in policy.learner.update(mine).items()}
        metrics |= {f"schedule/{name}": float(name in active) for name in self.trainable}
        self.step += 1
        out = self.batch_metrics(every) | metrics | self.timer.pop()
        out["reward/mean"] = sum(t.reward for t in trajs) / max(len(trajs), 1)
        return out

    def evaluate(self) -> dict[str, float]:
        rows = self.eval_rows[: self.cfg.eval.size]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.train.seed + 1)
            return self.workflow.evaluate(rows, self.cfg.eval.batch_size)

    def save(self) -> Path:
        state = {"learners": {n: p.learner.state_dict() for n, p in self.policies.items() if p.learner is not None},
                 "cursor": self.cursor.state_dict(), "next_group": self.next_group,
                 "workflow": self.workflow.state_dict(),
                 "reward_noise": self.noise.state_dict() if self.noise else None}
        return save_checkpoint(self.run_dir, self.step, dict(self.policies),
                               {n: p.tok for n, p in self.policies.items()}, state, keep_last=self.cfg.log.keep_last)

    def export(self, path: str | Path | None = None) -> Path:
        """Each policy as a plain Hugging Face directory ``<path>/<name>`` (default ``<run>/agents``; deployable on
        its own)."""
        root = Path(path) if path is not None else self.run_dir / "agents"
        for name, p in self.policies.items():
            export_policy(root / name, p.model, p.tok, p.model_cfg.lora.merge_on_export, adapter=p.adapter or "default")
        return root


def build_trainer(cfg: Config, resume: bool = False, overwrite: bool = False, **objects: Any) -> RLTrainer:
    """The trainer a config asks for: multi-agent when ``multi.workflow`` is set (HACPO for ``hacpo``),
    single-policy otherwise. ``objects`` are the keyword inputs of that trainer (model, tokenizer, data, ...)."""
    if cfg.train.backend != "single":
        from credo.distributed import trainer_class
        return trainer_class(cfg.train.backend, cfg.multi.workflow)(cfg, resume, overwrite, **objects)
    if cfg.multi.workflow == "hacpo":
        from credo.train.hacpo import HACPOTrainer
        return HACPOTrainer(cfg, resume, overwrite, **objects)
    cls = MultiAgentTrainer if cfg.multi.workflow else RLTrainer
    return cls(cfg, resume, overwrite, **objects)
