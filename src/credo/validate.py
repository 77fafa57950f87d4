"""Range and choice checks of a whole config, run before any model is built: ``validate(cfg)``.

``load_config`` runs it for every schema (RL :class:`~credo.config.Config`, retrieval ``RetrievalConfig``) and every
trainer runs it again (the Python API builds configs without ``load_config``). The first problem raises a
:class:`~credo.config.ConfigError` of one line, ``<key>: <bad value>; <what is allowed>``. Choices come from the
registries and tuples that define them, imported here lazily (modules holding registries import ``credo.config``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from typing import Any

from credo.config import Config, ConfigError, ModelConfig, SamplingConfig, agent_configs, replace_from
from credo.models.device import ATTENTION, DEVICE_PATTERN, PRECISIONS, resolve_device
from credo.models.device import DTYPES as DTYPE_MAP

DEVICE = DEVICE_PATTERN
DTYPES = tuple(DTYPE_MAP)
ATTN = ATTENTION
PRECISION = tuple(PRECISIONS)
LR_SCHEDULES = ("constant", "linear", "cosine")
TIE_RULES = ("random", "none")
HACPO_STATS = ("mean", "positive")
GROUP_ADVANTAGES = ("grpo", "dr_grpo", "rloo")  # need >= 2 samples per prompt, else every advantage is 0


def fail(key: str, value: Any, allowed: str) -> ConfigError:
    """The one-line error ``key: value; allowed``."""
    return ConfigError(f"{key}: {value!r}; {allowed}")


class _Checker:
    def __init__(self, cfg: Any, prefix: str = ""):
        self.cfg, self.prefix = cfg, prefix

    def get(self, key: str) -> Any:
        obj = self.cfg
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    def check(self, key: str, ok: Callable[[Any], bool], allowed: str) -> None:
        value = self.get(key)
        try:
            good = ok(value)
        except (TypeError, AttributeError):  # a value of the wrong type (configs built in Python are not coerced)
            good = False
        if not good:
            raise fail(self.prefix + key, value, allowed)

    def choice(self, key: str, choices: Iterable[str], empty_ok: bool = False) -> None:
        choices = sorted(choices)
        extra = " (or empty)" if empty_ok else ""
        self.check(key, lambda v: (empty_ok and v == "") or v in choices, f"one of {choices}{extra}")

    def ge(self, key: str, low: float) -> None:
        self.check(key, lambda v: v >= low, f"must be >= {low}")

    def device(self, key: str, empty_ok: bool = False) -> None:
        """A device spec that exists on this machine (``cuda:7`` on a 1-GPU or CPU-only machine fails here)."""
        value = self.get(key)
        self.check(key, lambda v: (empty_ok and v == "") or bool(DEVICE.match(v)),
                   ("empty (= train.device) | " if empty_ok else "") + "auto | cpu | cuda | cuda:N | mps")
        if value:
            resolve_device(value, key=self.prefix + key)

    def gt(self, key: str, low: float) -> None:
        self.check(key, lambda v: v > low, f"must be > {low}")

    def within(self, key: str, low: float, high: float, lo_open: bool = False, hi_open: bool = False) -> None:
        def ok(v: float) -> bool:
            return (v > low if lo_open else v >= low) and (v < high if hi_open else v <= high)

        self.check(key, ok, f"must be in {'(' if lo_open else '['}{low}, {high}{')' if hi_open else ']'}")


def validate(cfg: Any) -> Any:
    """Check every choice and range of ``cfg`` (a ``Config`` or a ``RetrievalConfig``); returns ``cfg``."""
    if isinstance(cfg, Config):
        _validate_rl(cfg)
        return cfg
    from credo.retrieval.config import RetrievalConfig

    if isinstance(cfg, RetrievalConfig):
        _validate_retrieval(cfg)
        return cfg
    from credo.arm.config import ArmConfig

    if isinstance(cfg, ArmConfig):
        _validate_arm(cfg)
        return cfg
    raise TypeError(f"validate: expected a Config or RetrievalConfig, got {type(cfg).__name__}")


def context_length(model_config: Any) -> int | None:
    """A model's context in tokens (``max_position_embeddings`` of its Hugging Face config); None if unknown."""
    return getattr(model_config, "max_position_embeddings", None) or None


def check_prompt_lengths(encode: Callable[[Any], list[int]], items: Iterable[Any], max_new_tokens: int,
                         context: int | None, longest: int = 64, text: Callable[[Any], str] = str,
                         key: str = "sampling.max_new_tokens", who: str = "a task prompt") -> None:
    """Once a tokenizer is loaded: a ``ConfigError`` naming ``key`` (the response cap's config key) when a prompt
    plus ``max_new_tokens`` exceeds ``context`` (the model's context in tokens, :func:`context_length`; None =
    unknown, no check). ``items`` are prompts (or task rows, with ``text(item)`` their prompt text); the ``longest``
    by character count are encoded (not all: large datasets), which finds the longest by tokens in practice.
    ``who`` names the prompt's owner in the message (a multi-agent run: the agent and its role)."""
    if not context:
        return
    for item in sorted(items, key=lambda x: len(text(x)), reverse=True)[:longest]:
        n = len(encode(item))
        if n + max_new_tokens > context:
            raise ConfigError(f"{key}: {max_new_tokens}; {who} has {n} tokens and {n} + {max_new_tokens} exceeds the "
                              f"model's context of {context} tokens (prompt {text(item)[:40]!r}...): shorten the "
                              f"prompts or lower {key}")


def validate_model(m: ModelConfig, prefix: str = "model.") -> None:
    from credo.models.embedded import TOKENIZERS

    c = _Checker(m, prefix)
    c.check("path", lambda v: isinstance(v, str) and v.strip() != "", "a non-empty path, 'embedded' or 'smollm2'")
    c.choice("dtype", DTYPES)
    c.choice("attn_implementation", ATTN)
    c.choice("tokenizer", TOKENIZERS)
    for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size"):
        c.ge(k, 1)
    c.ge("max_positions", 2)
    c.check("hidden_size", lambda v: v % m.num_heads == 0, f"must be a multiple of {prefix}num_heads={m.num_heads}")
    c.ge("lora.r", 0)
    if m.lora.r > 0:
        c.gt("lora.alpha", 0)
        c.check("lora.target_modules", lambda v: bool(v) and all(isinstance(x, str) and x for x in v),
                "a non-empty list of module names")
    c.within("lora.dropout", 0, 1, hi_open=True)


def validate_sampling(s: SamplingConfig, prefix: str = "sampling.") -> None:
    c = _Checker(s, prefix)
    c.ge("n", 1)
    c.gt("temperature", 0)
    c.within("top_p", 0, 1, lo_open=True)
    c.ge("top_k", 0)
    c.ge("max_new_tokens", 1)
    c.check("stop", lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v),
            "a list of non-empty strings")


def _validate_rl(cfg: Config) -> None:
    from credo.credit import ADVANTAGES, BASELINES
    from credo.losses import AGG_MODES, POLICY_LOSSES
    from credo.rewards.noise import KINDS
    from credo.tasks import TASKS

    c = _Checker(cfg)
    validate_model(cfg.model)
    validate_sampling(cfg.sampling)
    c.choice("task.kind", TASKS.names())
    c.ge("task.size", 1)
    c.ge("task.eval_size", 0)
    c.choice("algo.advantage", ADVANTAGES.names())
    c.choice("algo.baseline", BASELINES.names())
    c.choice("algo.policy_loss", POLICY_LOSSES.names())
    c.choice("algo.loss_agg", AGG_MODES)
    c.choice("algo.seq_ratio_estimator", BASELINES.names())
    if cfg.algo.advantage in GROUP_ADVANTAGES:
        c.check("sampling.n", lambda v: v >= 2, f"must be >= 2: algo.advantage={cfg.algo.advantage} compares the "
                "samples of a prompt, and a group of 1 has advantage 0")
    c.ge("algo.std_eps", 0)
    c.within("algo.eps_low", 0, 1, hi_open=True)
    c.ge("algo.eps_high", 0)
    c.check("algo.dual_clip", lambda v: v == 0 or v > 1, "0 (off) or > 1")
    c.gt("algo.log_ratio_clamp", 0)
    c.ge("algo.loss_norm_const", 0)
    c.ge("algo.kl_coef", 0)
    c.ge("algo.max_refill_rounds", 0)
    c.ge("algo.overlong_buffer", 0)
    c.within("reward.noise_p", 0, 1)
    c.choice("reward.noise_kind", KINDS)
    c.gt("reward.noise_df", 0)
    c.ge("reward.noise_scale", 0)
    c.ge("train.steps", 0)
    for k in ("train.prompts_per_step", "train.mini_batches", "train.epochs"):
        c.ge(k, 1)
    c.ge("train.micro_batch_size", 0)
    c.gt("train.lr", 0)
    c.choice("train.lr_schedule", LR_SCHEDULES)
    c.ge("train.warmup_steps", 0)
    c.ge("train.weight_decay", 0)
    c.check("train.betas", lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1)")
    c.ge("train.grad_clip", 0)
    c.ge("train.threads", 0)
    if cfg.train.backend == "ray":  # the device is the actors' (on cluster nodes), not this driver's
        c.check("train.device", lambda v: bool(DEVICE.match(v)), "auto | cpu | cuda | cuda:N | mps")
    else:
        c.device("train.device")
    c.choice("train.mixed_precision", PRECISION)
    c.ge("eval.every", 0)
    c.ge("eval.size", 0)
    c.check("eval.size", lambda v: v <= cfg.task.eval_size, f"must be <= task.eval_size={cfg.task.eval_size}")
    c.ge("eval.pass_k", 0)
    c.ge("eval.batch_size", 1)
    c.ge("sft.steps", 0)
    for k in ("sft.batch_size", "sft.pack_length", "sft.size"):
        c.ge(k, 1)
    c.gt("sft.lr", 0)
    c.check("log.output_dir", lambda v: isinstance(v, str) and v.strip() != "", "a folder path")
    c.ge("log.save_every", 0)
    c.ge("log.keep_last", 0)
    _validate_multi(cfg, c)
    _validate_wmss(cfg, c)
    _validate_cbs(cfg, c)
    _validate_sage(cfg, c)
    _validate_rm(cfg, c)
    _validate_scale(cfg, c)


def _validate_rm(cfg: Config, c: _Checker) -> None:
    from credo.rm.reward import FUSIONS, UPDATES

    r = cfg.rm
    c.check("rm.model", lambda v: isinstance(v, dict), "a mapping of model keys")
    validate_model(replace_from(cfg.model, r.model, "rm.model"), "rm.model.")
    c.choice("rm.fusion", FUSIONS)
    c.choice("rm.update", UPDATES)
    c.ge("rm.d", 1)
    c.within("rm.omega_floor", 0, 1)
    c.within("rm.alpha", 0, 1)
    c.gt("rm.std_eps", 0)
    c.gt("rm.lr", 0)
    c.ge("rm.grad_clip", 0)
    c.ge("rm.pretrain_steps", 0)
    c.gt("rm.pretrain_lr", 0)
    c.ge("rm.pretrain_batch", 1)
    c.ge("rm.batch_size", 1)
    c.device("rm.device", empty_ok=True)
    if not r.enabled:
        return
    c.check("rm.pairs", lambda v: r.pretrain_steps == 0 or (isinstance(v, str) and v != ""),
            "a pairs JSONL file is needed when rm.pretrain_steps > 0")
    c.check("multi.workflow", lambda v: v == "", "rm.enabled works with single-policy training only")
    c.check("train.backend", lambda v: v == "single", "the reward model (rm.enabled) runs with train.backend=single")



def _shell_words(value: str) -> bool:
    try:
        shlex.split(value)
    except ValueError:
        return False
    return True


def _validate_scale(cfg: Config, c: _Checker) -> None:
    from credo.distributed import BACKENDS, RESOURCE_KEYS
    from credo.engines import ENGINE_MODES, ENGINES

    c.ge("algo.tis_cap", 0)
    c.choice("train.backend", BACKENDS)
    c.choice("engine.kind", ENGINES.names())
    c.choice("engine.mode", ENGINE_MODES)
    c.within("engine.gpu_memory_utilization", 0, 1, lo_open=True)
    c.check("engine.port", lambda v: isinstance(v, int) and 0 <= v <= 65535, "a port in [0, 65535] (0 = free)")
    c.check("engine.serve_args", _shell_words, "extra `vllm serve` arguments in shell syntax (check the quotes)")
    c.gt("engine.start_timeout", 0)
    if cfg.engine.kind != "hf":
        c.check("train.backend", lambda v: v == "single", f"engine.kind={cfg.engine.kind} runs in one process "
                "(the hf engine serves ddp and ray)")
        c.check("engine.kind", lambda v: not cfg.multi.workflow, "hf: multi-agent workflows sample with the hf "
                "engine (other engines serve single-policy runs)")
    if cfg.engine.kind == "vllm" and cfg.engine.mode == "server":
        c.check("engine.url", lambda v: v == "" or v.startswith(("http://", "https://")),
                "http(s)://host:port of a vllm server, or empty (credo starts one)")
    names = {"policy"} | {a.get("name") for a in cfg.multi.agents if isinstance(a, dict)}
    c.check("resources", lambda v: isinstance(v, dict) and all(
        k in names and isinstance(r, dict) and set(r) <= set(RESOURCE_KEYS)
        and all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in r.values())
        for k, r in v.items()), f"a mapping of {sorted(names)} to {{num_cpus, num_gpus}} (numbers >= 0)")
    if cfg.multi.workflow:
        c.check("train.backend", lambda v: v in ("single", "ray"),
                "multi-agent workflows run with backend single or ray (ddp and fsdp train one policy)")
    if cfg.train.backend == "fsdp":
        c.check("model.lora.r", lambda v: v == 0, "LoRA runs with train.backend single, ddp or ray (fsdp shards "
                "full-weight training only)")
        c.check("train.mixed_precision", lambda v: v != "fp16", "fp16 loss scaling is not sharded: use bf16 or no "
                "with train.backend=fsdp")


def _validate_wmss(cfg: Config, c: _Checker) -> None:
    w = cfg.wmss
    c.within("wmss.lam", 0, 1, lo_open=True)
    for k in ("wmss.steps", "wmss.lr"):
        c.ge(k, 0)
    c.ge("wmss.entropy_batch_size", 1)
    c.device("wmss.weak_device", empty_ok=True)
    c.check("wmss.alpha", lambda _: min(w.alpha, w.beta, w.gamma) >= 0 and w.alpha + w.beta + w.gamma > 0,
            f"wmss.alpha/beta/gamma must be >= 0 and not all 0, got {w.alpha}/{w.beta}/{w.gamma}")


def _validate_cbs(cfg: Config, c: _Checker) -> None:
    from credo.selection import MODES, SCHEDULERS
    from credo.selection.bandit import EXPLORATION

    c.choice("algo.scheduler", SCHEDULERS.names(), empty_ok=True)
    if cfg.algo.scheduler:
        c.check("algo.scheduler", lambda _: not cfg.multi.workflow,
                f"rollout scheduling runs in the single-policy trainer only (multi.workflow={cfg.multi.workflow!r})")
        c.check("train.backend", lambda v: v == "single", "rollout scheduling (algo.scheduler) runs with "
                "train.backend=single (its buffer and scorer are not shared across processes)")
    c.choice("cbs.mode", MODES)
    c.within("cbs.keep_frac", 0, 1, lo_open=True)
    c.ge("cbs.top_k", 0)
    c.ge("cbs.buffer_rounds", 1)
    if cfg.cbs.mode == "intra":
        c.check("cbs.buffer_rounds", lambda v: v == 1, "must be 1 with cbs.mode=intra (use cbs.mode=global to reuse)")
    c.ge("cbs.warmup_rounds", 0)
    c.choice("cbs.explore", EXPLORATION)
    for k in ("cbs.w_e", "cbs.e_min_frac", "cbs.fit_steps", "cbs.ucb_nu"):
        c.ge(k, 0)
    for k in ("cbs.hidden", "cbs.window", "cbs.fit_batch"):
        c.ge(k, 1)
    c.gt("cbs.lr", 0)
    c.gt("cbs.ucb_lambda", 0)


def _validate_sage(cfg: Config, c: _Checker) -> None:
    from credo.engines.sage import RANKS, STOP_RULES, check_stops
    from credo.engines.samplers import SAMPLERS

    c.within("sage.rollouts", 0, cfg.sampling.n)
    c.check("sage.rollouts", lambda v: v == 0 or cfg.engine.kind == "hf",
            f"SAGE-RL searches on the trainer's own model: needs engine.kind=hf, got {cfg.engine.kind}")
    c.choice("sage.sampler", SAMPLERS.names())
    for k in ("sage.width", "sage.tolerance", "sage.max_steps", "sage.stop_top_k"):
        c.ge(k, 1)
    c.ge("sage.step_tokens", 0)
    c.check("sage.delimiter", lambda v: isinstance(v, str) and v != "", "a non-empty string")
    c.check("sage.end_think", lambda v: isinstance(v, str), "a string (empty = no thinking phase)")
    c.choice("sage.rank", RANKS)
    c.choice("sage.stop_rule", STOP_RULES)
    if cfg.sage.rollouts > 0:
        check_stops(cfg.sage, cfg.sampling)


def _validate_multi(cfg: Config, c: _Checker) -> None:
    from credo.train.hacpo import ARMS
    from credo.train.multi import SCHEDULES
    from credo.workflows import WORKFLOWS

    c.choice("multi.workflow", WORKFLOWS.names(), empty_ok=True)
    c.choice("multi.schedule", SCHEDULES)
    c.ge("multi.period", 1)
    c.choice("multi.tie_rule", TIE_RULES)
    c.within("multi.ema_decay", 0, 1, hi_open=True)
    for k in ("multi.min_samples", "multi.solo_samples", "multi.answer_penalty"):
        c.ge(k, 0)
    for i, a in enumerate(agent_configs(cfg)):
        where = f"multi.agents[{i}]."
        validate_model(replace_from(cfg.model, a.model, where + "model"), where + "model.")
        validate_sampling(replace_from(cfg.sampling, a.sampling, where + "sampling"), where + "sampling.")
        ac = _Checker(a, where)
        ac.ge("lr", 0)
        ac.device("device", empty_ok=True)
    if cfg.multi.workflow:
        wf = WORKFLOWS.get(cfg.multi.workflow)
        c.choice("multi.credit", wf.credit_modes, empty_ok=True)
        want = str(wf.min_agents) if wf.min_agents == wf.max_agents else f"{wf.min_agents} to {wf.max_agents}"
        c.check("multi.agents", lambda v: wf.min_agents <= len(v) <= wf.max_agents,
                f"workflow {cfg.multi.workflow} needs {want} agents")
    c.choice("hacpo.arm", ARMS)
    c.choice("hacpo.stat", HACPO_STATS)
    c.within("hacpo.delta", 0, 1)
    for k in ("hacpo.delta_step", "hacpo.alpha", "hacpo.naive_eps", "hacpo.warmup"):
        c.ge(k, 0)
    c.ge("hacpo.window", 1)
    c.gt("hacpo.floor", 0)
    c.within("hacpo.omega_min", 0, 1, lo_open=True)
    c.ge("hacpo.omega_max", 1)


def _validate_retrieval(cfg: Any) -> None:
    c = _Checker(cfg)
    c.check("model.path", lambda v: isinstance(v, str) and v.strip() != "", "'minilm' or a local encoder directory")
    c.ge("model.max_length", 1)
    c.check("model.facets", lambda v: bool(v) and all(isinstance(x, str) and x for x in v) and len(set(v)) == len(v),
            "a non-empty list of distinct facet names")
    c.choice("model.gate", ("adaptive", "fixed"))
    c.within("model.fixed_gate", 0, 1)
    c.gt("model.tau", 0)
    c.check("data.qd", lambda v: v in ("synthetic", "synthetic_cued", "pubmedqa", "none")
            or (v.startswith("beir:") and len(v) > 5), "synthetic | synthetic_cued | pubmedqa | beir:DIR | none")
    c.check("data.dd", lambda v: v in ("synthetic", "synthetic_cued", "foldoc", "none")
            or (v.startswith("beir:") and len(v) > 5), "synthetic | synthetic_cued | foldoc | beir:DIR | none")
    c.within("data.test_fraction", 0, 1, lo_open=True, hi_open=True)
    c.within("data.pubmedqa_size", 1, 1000)
    for k in ("data.foldoc_max_docs", "data.foldoc_min_links", "data.foldoc_colinks"):
        c.ge(k, 0)
    for k in ("data.synthetic_docs", "data.synthetic_topics", "data.synthetic_questions"):
        c.ge(k, 1)
    if "synthetic_cued" in (cfg.data.qd, cfg.data.dd):  # three distinct topics per paper
        c.ge("data.synthetic_topics", 3)
    c.ge("train.steps", 0)
    c.ge("train.batch_qd", 1)
    c.ge("train.batch_dd", 1)
    c.gt("train.lr", 0)
    c.gt("train.head_lr", 0)
    for k in ("train.w_dd", "train.w_qd", "train.w_kl", "train.grad_clip", "train.threads"):
        c.ge(k, 0)
    c.gt("train.temperature", 0)
    c.device("train.device")
    c.ge("eval.batch_size", 1)
    c.ge("eval.top_k", 1)
    c.ge("eval.every", 0)
    c.check("log.output_dir", lambda v: isinstance(v, str) and v.strip() != "", "a folder path")
    c.ge("log.save_every", 0)
    c.ge("log.keep_last", 0)


def _validate_arm(cfg: Any) -> None:
    from credo.arm.config import ADAPTERS

    validate_model(cfg.model)
    c = _Checker(cfg)
    c.choice("adapter.kind", ADAPTERS)
    c.check("adapter.target_modules", lambda v: bool(v) and all(isinstance(x, str) and x for x in v),
            "a non-empty list of module names")
    for k in ("adapter.r", "adapter.r1", "adapter.r2"):
        c.ge(k, 1)
    c.gt("adapter.alpha", 0)
    c.within("adapter.dropout", 0, 1, hi_open=True)
    c.choice("adapter.modulation", ("shared", "layer"))
    c.choice("adapter.conditioning", ("embedding", "onehot"))
    c.check("data.source", lambda v: isinstance(v, str) and v.strip() != "", "synthetic or a JSONL file of pairs")
    c.check("data.objectives", lambda v: bool(v) and all(isinstance(x, str) and x for x in v) and len(set(v)) == len(v),
            "a non-empty list of distinct objective names")
    c.check("data.descriptions", lambda v: len(v) == len(cfg.data.objectives) and all(isinstance(x, str) and x
                                                                                       for x in v),
            f"one non-empty text per objective ({len(cfg.data.objectives)})")
    if cfg.adapter.kind == "lora":
        c.check("data.objective", lambda v: v in cfg.data.objectives,
                f"adapter.kind=lora trains one objective: one of {list(cfg.data.objectives)}")
    else:
        c.check("data.objective", lambda v: v == "", "only for adapter.kind=lora (leave empty)")
    if cfg.data.source == "synthetic":
        c.check("data.objectives", lambda v: list(v) == ["help", "harmless"], "synthetic: [help, harmless]")
    for k in ("data.size", "data.length"):
        c.ge(k, 1)
    c.ge("data.eval_size", 0)
    c.gt("data.label_temperature", 0)
    c.ge("train.steps", 0)
    c.ge("train.batch_size", 1)
    c.gt("train.lr", 0)
    c.gt("train.beta", 0)
    c.gt("train.dirichlet", 0)
    for k in ("train.weight_decay", "train.warmup", "train.lam_reg", "train.grad_clip", "train.threads",
              "train.save_every", "train.keep_last"):
        c.ge(k, 0)
    c.device("train.device")
    c.ge("decode.alpha", 0)
    c.ge("decode.max_new_tokens", 1)
    c.gt("decode.temperature", 0)
    c.check("eval.grid", lambda v: v == 0 or v >= 2, "0 (off) or >= 2 grid points")
    if cfg.eval.grid:
        c.check("data.source", lambda v: v == "synthetic", "eval.grid needs exact objectives: data.source=synthetic "
                "(or set eval.grid=0)")
    for k in ("eval.prompts", "eval.samples"):
        c.ge(k, 1)
