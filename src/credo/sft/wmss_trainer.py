"""``credo sft RECIPE --wmss``: stage 1 SFT (unless ``wmss.strong`` is given), WD-DS entropy resampling, WD-JT
joint training on mixed logits, checkpoints with exact resume, and export of the strong model alone.

Run folder: ``metrics.jsonl`` (step 0: entropy summary; steps 1..: ``wmss/loss``, ``wmss/margin``,
``wmss/nontarget_grad_mass``, ``wmss/p_target``, ``wmss/lr``), ``checkpoints/step_N/{policy,weak}/``,
``sft_policy/`` (the stage-1 model), ``policy/`` (the deployed strong model) and ``report.html``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path

import torch
import yaml

from credo.config import Config, ConfigError, to_dict
from credo.models import cache_dir, load_policy, resolve_model_dir
from credo.models.device import resolve_device
from credo.sft.trainer import padded_batch, sft_examples, sft_train
from credo.sft.wmss import cached_entropy, wdds_resample, wdds_weights, wmss_loss
from credo.tasks import build_task
from credo.train.checkpoint import (
    export_policy,
    load_checkpoint_state,
    save_checkpoint,
    save_hf_dir,
    seed_everything,
    set_rng_state,
)
from credo.train.learner import lr_lambda
from credo.train.metrics import MetricsLogger
from credo.train.rundir import open_run_dir
from credo.validate import validate


def task_examples(cfg: Config, tok) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids + EOS) for the first ``sft.size`` training rows of ``cfg.task``."""
    task = build_task(cfg.task)
    return sft_examples(tok, task, task.rows("train")[: cfg.sft.size], cfg.model.chat_template)


class WMSSTrainer:
    """WMSS on a :class:`~credo.config.Config` (sections ``model``, ``task``, ``sft``, ``wmss``, ``train``, ``log``)."""

    def __init__(self, cfg: Config, resume: bool = False, overwrite: bool = False):
        validate(cfg)
        w = cfg.wmss
        if not w.strong and cfg.sft.steps <= 0:
            raise ConfigError("wmss.strong is empty and sft.steps=0: no strong model (give one or SFT steps)")
        for key in ("weak", "strong"):  # a bad path fails now, not after stage 1
            if getattr(w, key):
                resolve_model_dir(dataclasses.replace(cfg.model, path=getattr(w, key)))
        self.cfg, self.run_dir, self.step = cfg, Path(cfg.log.output_dir), 0
        self.run_lock, ckpt = open_run_dir(self.run_dir, resume, overwrite)  # one run per folder, as every trainer
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        self.strong, self.tok = self._strong(ckpt)
        self.weak = self._weak(ckpt)
        self.strong.to(resolve_device(cfg.train.device))
        self.weak.to(resolve_device(w.weak_device or cfg.train.device))
        self.examples = task_examples(cfg, self.tok)
        state = load_checkpoint_state(ckpt) if ckpt is not None else None
        # the draw is made once, from M0 and the stage-1 M1; a resumed run reuses it (its M1 has moved on)
        self.indices, self.summary = (state["indices"], {}) if state is not None else self._select()
        self.perm: tuple[int, list[int]] = (-1, [])
        self.total = w.steps or math.ceil(len(self.indices) / cfg.sft.batch_size)
        params = [p for p in self.strong.parameters() if p.requires_grad]
        if w.joint and not w.freeze_weak:
            params += [p for p in self.weak.parameters() if p.requires_grad]
        else:
            self.weak.requires_grad_(False)
        self.params = params
        self.opt = torch.optim.AdamW(params, lr=w.lr or cfg.sft.lr, weight_decay=0.0)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda("cosine", max(1, self.total // 20),
                                                                           self.total))
        if state is not None:
            self.step = state["step"]
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"])
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        self.logger = MetricsLogger(self.run_dir, tensorboard=cfg.log.tensorboard, wandb=cfg.log.wandb,
                                    config=to_dict(cfg), resume_step=self.step if ckpt is not None else None)

    def _load(self, path: str | Path) -> tuple[torch.nn.Module, object]:
        model, tok, _ = load_policy(dataclasses.replace(self.cfg.model, path=str(path)))
        return model, tok

    def _strong(self, ckpt: Path | None):
        cfg = self.cfg
        if ckpt is not None:
            return self._load(ckpt / "policy")
        if cfg.wmss.strong:
            return self._load(cfg.wmss.strong)
        if (self.run_dir / "sft_policy" / "config.json").is_file():  # stage 1 finished before a kill
            return self._load(self.run_dir / "sft_policy")
        model, tok, _ = load_policy(cfg.model)
        self.base = copy.deepcopy(model)
        sft_train(model, tok.pad_token_id, task_examples(cfg, tok), cfg.sft, seed=cfg.train.seed)
        save_hf_dir(self.run_dir / "sft_policy", model, tok)
        return model, tok

    def _weak(self, ckpt: Path | None) -> torch.nn.Module:
        cfg = self.cfg
        if ckpt is not None and (ckpt / "weak" / "config.json").is_file():
            return self._load(ckpt / "weak")[0]
        if cfg.wmss.weak:
            return self._load(cfg.wmss.weak)[0]
        if getattr(self, "base", None) is not None:
            return self.base
        return load_policy(cfg.model)[0]

    def _select(self) -> tuple[list[int], dict[str, float]]:
        """WD-DS indices into ``self.examples`` (all of them, in order, when ``wmss.resample`` is off)."""
        w, n = self.cfg.wmss, len(self.examples)
        if not w.resample:
            return list(range(n)), {}
        cache = Path(w.entropy_cache) if w.entropy_cache else cache_dir(self.cfg.model) / "wmss-entropy"
        pad = self.tok.pad_token_id
        h0 = cached_entropy(self.weak, self.examples, pad, cache, w.entropy_batch_size)
        h1 = cached_entropy(self.strong, self.examples, pad, cache, w.entropy_batch_size)
        idx = wdds_resample(wdds_weights(h0, h1, w.alpha, w.beta, w.gamma), n, w.sample_seed)
        return idx, {"wmss/h0_mean": float(h0.mean()), "wmss/h1_mean": float(h1.mean()),
                     "wmss/dh_neg_frac": float((h1 < h0).float().mean()), "wmss/unique_frac": len(set(idx)) / n}

    def batch(self, step: int) -> list[tuple[list[int], list[int]]]:
        """Examples of optimizer step ``step`` (0-based): epoch e is a permutation seeded by (train.seed, e)."""
        b, n = self.cfg.sft.batch_size, len(self.indices)
        out = []
        for pos in range(step * b, (step + 1) * b):
            epoch, i = divmod(pos, n)
            if self.perm[0] != epoch:
                g = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
                self.perm = (epoch, torch.randperm(n, generator=g).tolist())
            out.append(self.examples[self.indices[self.perm[1][i]]])
        return out

    def train_step(self) -> dict[str, float]:
        w = self.cfg.wmss
        self.strong.train()
        self.weak.train(w.joint and not w.freeze_weak)
        batch = padded_batch(self.batch(self.step), self.tok.pad_token_id)
        lam = w.lam if w.joint else 1.0  # lam = 1 is plain SFT of the strong model
        total, count, stats = wmss_loss(self.weak, self.strong, batch, lam, freeze_weak=w.freeze_weak or not w.joint)
        loss = total / max(count, 1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        lr = self.sched.get_last_lr()[0]
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        return {"wmss/loss": float(loss.detach()), "wmss/lr": lr, **{f"wmss/{k}": v for k, v in stats.items()}}

    def save(self) -> Path:
        state = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(), "indices": self.indices}
        return save_checkpoint(self.run_dir, self.step, {"policy": self.strong, "weak": self.weak},
                               {"policy": self.tok, "weak": self.tok}, state, keep_last=self.cfg.log.keep_last)

    def export(self) -> Path:
        """The strong model alone as a plain Hugging Face directory ``<run>/policy``."""
        return export_policy(self.run_dir / "policy", self.strong, self.tok, merged=self.cfg.model.lora.merge_on_export)

    def run(self) -> dict[str, float]:
        """Joint training to the last step; returns the last step's metrics."""
        cfg, last = self.cfg, {}
        if self.step == 0:
            self.logger.log(0, {"wmss/examples": len(self.indices), **self.summary})
        while self.step < self.total:
            t0 = time.perf_counter()
            last = self.train_step()
            last["timing/step"] = time.perf_counter() - t0
            self.logger.log(self.step, last)
            if self.step == self.total or (cfg.log.save_every and self.step % cfg.log.save_every == 0):
                self.save()
        self.logger.close()
        return last


def run_wmss(cfg: Config, resume: bool = False, overwrite: bool = False) -> dict[str, float]:
    """The ``credo sft --wmss`` command: train, export ``<run>/policy``, write the report; prints paths."""
    import json

    from credo.train.report import write_report

    trainer = WMSSTrainer(cfg, resume=resume, overwrite=overwrite)
    metrics = trainer.run()
    print(f"policy: {trainer.export()}")
    if cfg.log.report:
        print(f"report: {write_report(trainer.run_dir, title='credo sft --wmss')}")
    print(json.dumps(metrics, indent=1))
    return metrics
