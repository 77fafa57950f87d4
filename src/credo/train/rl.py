"""The RL trainer: generate → reward → advantage → select → update, plus eval, checkpoints and metrics."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from credo.config import Config, to_dict
from credo.credit import compute_advantages
from credo.engines import build_engine
from credo.engines.samplers import group_rollout, source_metrics
from credo.models import dtype_name, load_causal_lm, load_policy, prepare_policy
from credo.models.device import resolve_device
from credo.models.lora import add_adapter, is_peft
from credo.rewards import build_reward_set
from credo.rewards.noise import RewardNoise
from credo.selection import apply_overlong, build_selector, filter_groups
from credo.sft.trainer import sft_examples, sft_train
from credo.tasks import build_task, encode_task_prompt
from credo.train.checkpoint import (
    export_policy,
    load_checkpoint_state,
    save_checkpoint,
    save_hf_dir,
    seed_everything,
    set_rng_state,
)
from credo.train.evaluate import evaluate
from credo.train.learner import Learner
from credo.train.metrics import MetricsLogger, PhaseTimer, UpdateCounter, last_eval_metrics
from credo.train.rundir import open_run_dir
from credo.trajectory import Trajectory
from credo.validate import check_prompt_lengths, context_length, validate


class DataCursor:
    """Walks the training rows in a seeded permutation per epoch; its state is two integers."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch, self.pos = n, seed, 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> list[int]:
        g = torch.Generator(device="cpu").manual_seed(self.seed * 7919 + self.epoch)
        return torch.randperm(self.n, generator=g, device="cpu").tolist()

    def take(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            if self.pos == self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._permutation()
            out.append(self._perm[self.pos])
            self.pos += 1
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, s: dict) -> None:
        self.epoch, self.pos = s["epoch"], s["pos"]
        self._perm = self._permutation()


class RLTrainer:
    """Single-policy RLVR trainer configured by a :class:`~credo.config.Config` (GRPO, Dr.GRPO, DAPO, GSPO, RLOO).

    Objects may replace what the config names (the Python API, :class:`credo.Trainer`, passes them): ``model`` and
    ``tokenizer`` (a transformers causal LM; ignored when resuming, where the checkpoint's policy is loaded),
    ``data`` (a ``datasets.Dataset``, ``DatasetDict`` or list of dicts for ``task.kind=dataset``), ``reward_funcs``
    (callables ``f(prompts, completions, **row_fields) -> list[float | None]`` or registered names) with
    ``reward_weights``.
    """

    learner_cls = Learner  # the data-parallel trainer swaps in its learner; the RL step itself is shared
    selector = None  # CBS / control schedulers (algo.scheduler): single-process only; None = train on all rollouts
    reward_model = None  # rm.enabled: the learned reward model (single-process only)

    def __init__(self, cfg: Config, resume: bool = False, overwrite: bool = False, *, model: Any = None,
                 tokenizer: Any = None, data: Any = None, reward_funcs: list | None = None,
                 reward_weights: list[float] | None = None):
        ckpt = self._open(cfg, resume, overwrite, data, reward_funcs, reward_weights)
        if ckpt is not None or model is None:
            model_cfg = dataclasses.replace(cfg.model, path=str(ckpt / "policy")) if ckpt is not None else cfg.model
            self.model, self.tok, _ = load_policy(model_cfg, self.device)
        else:
            self.model, self.tok = prepare_policy(model, tokenizer, cfg.model, self.device)
        check_prompt_lengths(lambda r: encode_task_prompt(self.tok, self.task, r, cfg.model.chat_template),
                             self.train_rows + self.eval_rows, cfg.sampling.max_new_tokens,
                             context_length(self.model.config),
                             text=self.task.prompt)
        if ckpt is None and cfg.sft.steps > 0:
            self.sft_metrics = self.warm_start()
        self.engine = build_engine(cfg.engine.kind, self.model, self.tok, cfg.train.mixed_precision, config=cfg.engine)
        self.learner = self.learner_cls(self.model, self.tok.pad_token_id, cfg.algo, cfg.train, cfg.sampling,
                               reference=self.reference(ckpt is not None), adapter="default")
        if cfg.rm.enabled:
            from credo.rm import build_rm_reward

            self.reward_model, rm_metrics = build_rm_reward(cfg, self.model, self.tok, self.device, self.task)
            self.sft_metrics = getattr(self, "sft_metrics", {}) | rm_metrics
        self.selector = build_selector(cfg)
        state = self._restore(ckpt)
        if state is not None:
            self.learner.load_state_dict(state["learner"])
            if self.reward_model is not None:
                self.reward_model.load_state_dict(state["reward_model"])
            if self.selector is not None:
                self.selector.load_state_dict(state["selector"])
        self._start_logging(ckpt)

    # ---------------------------------------------------------------- set-up shared with the multi-agent trainers
    def _open(self, cfg: Config, resume: bool, overwrite: bool = False, data: Any = None,
              reward_funcs: list | None = None, reward_weights: list[float] | None = None) -> Path | None:
        """Validate the config, claim the run folder (see ``credo.train.rundir``), threads, seeds, task splits (from
        ``data`` when given), reward functions and the data/step/noise state; -> the checkpoint to resume."""
        validate(cfg)
        self.cfg = cfg
        self.started = time.perf_counter()  # wall clock of this process's run, SFT warm start included (the report)
        self.run_dir = Path(cfg.log.output_dir)
        self.run_lock, ckpt = open_run_dir(self.run_dir, resume, overwrite)
        self.resume_state = load_checkpoint_state(ckpt) if ckpt is not None else None  # refused before any model
        self.device = resolve_device(cfg.train.device)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        self.task = build_task(cfg.task, data=data)
        self.rewards = build_reward_set(cfg.reward, self.task, funcs=reward_funcs, weights=reward_weights)
        self.train_rows, self.eval_rows = self.task.rows("train"), self.task.rows("eval")
        self.cursor = DataCursor(len(self.train_rows), cfg.train.seed)
        self.step, self.next_group, self.timer = 0, 0, PhaseTimer()
        r = cfg.reward
        self.noise = RewardNoise(r.noise_p, r.noise_kind, r.noise_df, r.noise_scale, r.noise_seed) \
            if r.noise_p > 0 else None
        return ckpt

    def _restore(self, ckpt: Path | None) -> dict | None:
        """Load a checkpoint's cursor, step, reward-noise and RNG state; -> the whole state (None without one)."""
        if ckpt is None:
            return None
        state = self.resume_state
        self.cursor.load_state_dict(state["cursor"])
        self.step, self.next_group = state["step"], state["next_group"]
        if self.noise is not None:
            self.noise.load_state_dict(state["reward_noise"])
        set_rng_state(state["rng"])
        return state

    def _start_logging(self, ckpt: Path | None) -> None:
        cfg = self.cfg
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        self.logger = MetricsLogger(self.run_dir, tensorboard=cfg.log.tensorboard, wandb=cfg.log.wandb,
                                    config=to_dict(cfg), resume_step=self.step if ckpt is not None else None)

    def warm_start(self) -> dict[str, float]:
        rows = self.task.rows("train")[: self.cfg.sft.size]
        examples = sft_examples(self.tok, self.task, rows, self.cfg.model.chat_template)
        with tqdm(total=self.cfg.sft.steps, disable=not self.cfg.log.progress, desc="sft") as bar:
            def log(step: int, metrics: dict[str, float]) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['sft/loss']:.3f}")

            out = sft_train(self.model, self.tok.pad_token_id, examples, self.cfg.sft, seed=self.cfg.train.seed,
                            log=log, mixed_precision=self.cfg.train.mixed_precision)
        if is_peft(self.model):
            self.model = self.merge_warm_start()
        return out

    def merge_warm_start(self):
        """With LoRA, the SFT adapter is merged into the base, which is saved to ``<run>/base`` and read back (so a
        resumed run loads bit-identical base weights); RL then trains a fresh adapter on it, and "adapter disabled"
        is the policy as RL starts (the KL reference)."""
        base_dir = save_hf_dir(self.run_dir / "base", self.model.merge_and_unload(), self.tok)
        return add_adapter(load_causal_lm(base_dir, self.cfg.model, self.device), self.cfg.model.lora)

    def reference(self, resuming: bool):
        """The KL reference is the policy as RL starts. It is saved once and always read back from disk, so a
        resumed run computes with bit-identical reference weights. With LoRA there is no copy: the learner disables
        the adapter."""
        if self.cfg.algo.kl_coef <= 0 or is_peft(self.model):
            return None
        ref_dir = self.run_dir / "reference"
        if not (resuming and ref_dir.is_dir()):
            save_hf_dir(ref_dir, self.model)
        return load_causal_lm(ref_dir, dataclasses.replace(self.cfg.model, dtype=dtype_name(self.model.dtype)),
                              self.device)

    # ---------------------------------------------------------------- the RL step
    def rollout(self) -> tuple[list[Trajectory], dict[str, float]]:
        """Sample G responses for each prompt of the batch and score them; with dynamic sampling, keep only
        groups whose raw scores differ and refill until the batch is full (or the refill budget is spent)."""
        cfg, want = self.cfg, self.cfg.train.prompts_per_step
        batch: list[Trajectory] = []
        rounds = 1 + (cfg.algo.max_refill_rounds if cfg.algo.dynamic_sampling else 0)
        dropped = 0
        for _ in range(rounds):
            rows = [self.train_rows[i] for i in self.cursor.take(want - len({t.group_id for t in batch}))]
            with self.timer("generate"):
                prompts = [encode_task_prompt(self.tok, self.task, r, cfg.model.chat_template) for r in rows]
                trajs = group_rollout(self.engine, prompts, cfg.sampling, cfg.sage, version=self.step)
            with self.timer("reward"):
                self.score(trajs, rows)
            if cfg.algo.dynamic_sampling:
                trajs, gone = filter_groups(trajs)
                dropped += len(gone)
            batch += trajs
            if len({t.group_id for t in batch}) >= want:
                break
        rm = self.reward_model
        return batch, {"batch/groups": float(len({t.group_id for t in batch})), "batch/dropped_groups": dropped,
                       **self.rewards.pop_metrics(), **(rm.pop_metrics() if rm is not None else {})}

    def score(self, trajs: list[Trajectory], rows: list[dict]) -> dict[str, float]:
        """Group ids, prompt text and rewards (``self.rewards``: reward functions, verifier score) of one
        generation round, in place; samples skipped by ``reward.on_invalid=skip`` leave ``trajs``."""
        n = self.cfg.sampling.n
        for i, t in enumerate(trajs):
            t.group_id, t.prompt_text = self.next_group + i // n, self.task.prompt(rows[i // n])
        self.next_group += len(rows)
        metrics = self.rewards.score(trajs, rows)
        trajs[:] = [t for t in trajs if "reward_skipped" not in t.info]
        if self.reward_model is not None:  # RLHF: the reward model's score is the reward
            self.reward_model.score(trajs, self.step)
        return metrics

    def train_step(self) -> dict[str, float]:
        trajs, metrics = self.rollout()
        if self.noise is not None:
            metrics |= self.noise(trajs)
        metrics |= apply_overlong(trajs, self.cfg.algo, self.cfg.sampling.max_new_tokens)
        metrics |= compute_advantages(trajs, self.cfg.algo)  # on full groups, before any selection
        if self.cfg.sage.rollouts > 0:
            metrics |= source_metrics(trajs)
        batch, chosen = self.select(trajs)
        with self.timer("old_logprob"):
            self.learner.attach_logprobs(batch)
        with self.timer("update"):
            metrics |= self.learner.update(batch)
        if self.reward_model is not None:
            with self.timer("rm_update"):
                metrics |= self.reward_model.after_step(trajs, self.step)
        self.step += 1
        self.engine.sync_weights(self.step)
        return metrics | chosen | self.batch_metrics(trajs) | self.timer.pop()

    def select(self, trajs: list[Trajectory]) -> tuple[list[Trajectory], dict[str, float]]:
        """The rollouts this step trains on: all fresh ones, or the scheduler's choice among the fresh round (and
        the replay buffer) with ``cbs/...`` metrics (``credo.selection.RolloutSelector``)."""
        if self.selector is None:
            return trajs, {}
        with self.timer("select"):
            return self.selector.select(trajs, self.step, self.learner)

    # ---------------------------------------------------------------- bookkeeping
    @staticmethod
    def batch_metrics(trajs: list[Trajectory]) -> dict[str, float]:
        n = max(len(trajs), 1)
        return {"reward/mean": sum(t.reward for t in trajs) / n,
                "reward/score_mean": sum(t.score for t in trajs) / n,
                "response/length_mean": sum(t.num_tokens for t in trajs) / n,
                "response/stop_frac": sum(t.finish_reason == "stop" for t in trajs) / n,
                "perf/generated_tokens": float(sum(t.num_tokens for t in trajs))}

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.engine, self.tok, self.task, self.eval_rows, self.cfg.sampling, self.cfg.eval,
                        self.cfg.model.chat_template, seed=self.cfg.train.seed + 1, rewards=self.rewards)

    def save(self) -> Path:
        state = {"learner": self.learner.state_dict(), "cursor": self.cursor.state_dict(),
                 "next_group": self.next_group, "reward_noise": self.noise.state_dict() if self.noise else None,
                 "selector": self.selector.state_dict() if self.selector is not None else None}
        if self.reward_model is not None:
            state["reward_model"] = self.reward_model.state_dict()
        return save_checkpoint(self.run_dir, self.step, self.checkpoint_models(), {"policy": self.tok}, state,
                               keep_last=self.cfg.log.keep_last)

    def checkpoint_models(self) -> dict[str, Any]:
        """What a checkpoint's ``save_pretrained`` writes, by folder name (FSDP: the gathered full weights)."""
        return {"policy": self.model}

    def export(self, path: str | Path | None = None) -> Path:
        """Save the trained policy as a plain Hugging Face directory (default ``<run>/policy``; with LoRA: the
        adapter, and with ``model.lora.merge_on_export`` also the merged model in ``<path>/merged``)."""
        out = Path(path) if path is not None else self.run_dir / "policy"
        return export_policy(out, self.model, self.tok, self.cfg.model.lora.merge_on_export)

    def elapsed(self) -> dict[str, float]:
        """``timing/elapsed_s``: wall seconds since this process built the trainer (restarts on resume)."""
        return {"timing/elapsed_s": time.perf_counter() - self.started}

    def run(self) -> dict[str, float]:
        """Train to ``train.steps``; returns the last evaluation's metrics."""
        cfg, last_eval = self.cfg, {}
        if self.step == 0:
            last_eval = self.evaluate()
            self.logger.log(0, last_eval | getattr(self, "sft_metrics", {}) | self.elapsed())
        bar = tqdm(total=cfg.train.steps, initial=self.step, disable=not cfg.log.progress, desc="rl")
        updates = UpdateCounter()
        while self.step < cfg.train.steps:
            t0 = time.perf_counter()
            metrics = self.train_step()
            updates.add(metrics)
            metrics["timing/step"] = time.perf_counter() - t0
            metrics["perf/generated_tokens_per_s"] = metrics["perf/generated_tokens"] / metrics["timing/step"]
            self.logger.log(self.step, metrics | self.elapsed())
            bar.update(1)
            bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}")
            if self.step == cfg.train.steps or (cfg.eval.every and self.step % cfg.eval.every == 0):
                last_eval = self.evaluate()
                self.logger.log(self.step, last_eval | self.elapsed())
            if self.step == cfg.train.steps or (cfg.log.save_every and self.step % cfg.log.save_every == 0):
                self.save()
        bar.close()
        self.logger.close()
        updates.check(self.run_dir)
        return last_eval or last_eval_metrics(self.run_dir / "metrics.jsonl")  # a resumed finished run: its last eval
