"""Agents of a multi-agent run: each holds its own policy (weights, tokenizer, engine, optimizer) or shares one.

A :class:`Policy` is what gets trained and checkpointed; an :class:`Agent` is a named user of a policy with its own
prompt templates and sampling. Agents exchange *text*; each encodes its own prompts with its own tokenizer, so
agents with different models and tokenizers work together (token-in/token-out within each agent).
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from credo.config import AgentConfig, Config, ModelConfig, SamplingConfig, agent_configs, replace_from
from credo.engines import ENGINES
from credo.models import dtype_name, encode_prompt, load_causal_lm, load_policy, prepare_policy
from credo.models.device import resolve_device
from credo.models.lora import adapter_base, add_adapter, is_adapter_dir, load_adapter, save_adapter
from credo.train.checkpoint import save_hf_dir
from credo.train.learner import Learner
from credo.trajectory import Trajectory
from credo.validate import check_prompt_lengths, context_length


class TemplateError(ValueError):
    """A prompt template that names a field the workflow does not provide."""


@dataclass
class Policy:
    """One set of weights: a model, or one LoRA adapter (``adapter``) on a base model that other policies may share.
    ``learner`` is None for a frozen policy; ``context`` is the model's context in tokens (None = unknown)."""

    name: str
    model: PreTrainedModel
    tok: PreTrainedTokenizerBase
    engine: Any
    learner: Learner | None
    model_cfg: ModelConfig
    adapter: str | None = None
    context: int | None = None

    @property
    def trainable(self) -> bool:
        return self.learner is not None

    def save_pretrained(self, out: Path, **_: Any) -> None:
        """The policy's own weights: its adapter alone when it has one, else the whole model."""
        if self.adapter is not None:
            save_adapter(self.model, Path(out), self.adapter)
        else:
            self.model.save_pretrained(out, safe_serialization=True)


class Agent:
    """A named user of a policy: role prompt templates and sampling settings. ``index`` is its position in
    ``multi.agents`` (error messages name its keys)."""

    def __init__(self, cfg: AgentConfig, policy: Policy, sampling: SamplingConfig, index: int = 0):
        self.cfg, self.policy, self.sampling = cfg, policy, sampling
        self.name = cfg.name
        own = "max_new_tokens" in (cfg.sampling or {})
        #: the config key that sets this agent's response cap: its own sampling override or the top-level one
        self.max_new_tokens_key = f"multi.agents[{index}].sampling.max_new_tokens" if own else "sampling.max_new_tokens"

    @property
    def trainable(self) -> bool:
        return self.cfg.trainable and self.policy.trainable

    def template(self, role: str, default: str) -> str:
        return self.cfg.prompts.get(role, default)

    def format(self, role: str, default: str, **fields: Any) -> str:
        """Fill the role's template with ``fields``; a TemplateError names the agent, role and missing field."""
        tpl = self.template(role, default)
        try:
            return tpl.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            names = [f for _, f, _, _ in string.Formatter().parse(tpl) if f]
            raise TemplateError(f"agent {self.name!r}, role {role!r}: template {tpl!r} uses {names}; available "
                                f"fields are {sorted(fields)} ({e!r})") from e

    def generate(self, texts: list[str], n: int, role: str, version: int = 0,
                 greedy: bool = False) -> list[Trajectory]:
        """Sample ``n`` responses per prompt text (rows ordered prompt-major: ``[p0s0, p0s1, ..., p1s0, ...]``)."""
        p = self.policy
        ids = [encode_prompt(p.tok, t, p.model_cfg.chat_template) for t in texts]
        self.check_prompt_lengths(texts, role, ids)
        trajs = p.engine.generate(ids, n, self.sampling, version=version, greedy=greedy)
        for i, t in enumerate(trajs):
            t.agent, t.role, t.prompt_text = self.name, role, texts[i // n]
            t.info["policy"] = p.name
        return trajs

    def check_prompt_lengths(self, texts: list[str], role: str, ids: list[list[int]] | None = None) -> None:
        """A one-line ConfigError naming this agent, ``role`` and :attr:`max_new_tokens_key` when a prompt of
        ``texts`` plus the agent's ``max_new_tokens`` exceeds its model's context. ``ids``: the prompts already
        encoded (all are checked); without them the 64 longest by characters are encoded."""
        p = self.policy
        if ids is None:
            encode, longest = (lambda i: encode_prompt(p.tok, texts[i], p.model_cfg.chat_template)), 64
        else:
            encode, longest = ids.__getitem__, len(ids)
        check_prompt_lengths(encode, range(len(texts)), self.sampling.max_new_tokens, p.context, longest,
                             texts.__getitem__, key=self.max_new_tokens_key,
                             who=f"agent {self.name!r}, role {role!r}: a prompt")


def without_lora(model_cfg: ModelConfig) -> ModelConfig:
    return dataclasses.replace(model_cfg, lora=dataclasses.replace(model_cfg.lora, r=0))


def base_key(model_cfg: ModelConfig, device: Any) -> tuple:
    """What must agree for two LoRA agents to share one base model in memory."""
    return tuple(sorted((k, repr(v)) for k, v in dataclasses.asdict(without_lora(model_cfg)).items())) + (str(device),)


def build_agents(cfg: Config, run_dir: Path, ckpt: Path | None = None,
                 models: dict[str, tuple[Any, Any]] | None = None) -> tuple[dict[str, Agent], dict[str, Policy]]:
    """Agents in ``multi.agents`` order and their policies (keyed by the owning agent's name).

    Each policy lives on ``agents[i].device`` (default ``train.device``). LoRA agents (``model.lora.r > 0``) whose
    base model, dtype and device agree hold one adapter each on one shared frozen base: N agents cost one base in
    memory. ``models`` maps an agent name to a ``(model, tokenizer)`` pair used instead of loading its ``model``
    section (not when resuming; LoRA agents handed the same object share it as their base). A policy is loaded from
    ``ckpt/<name>`` when resuming. With ``algo.kl_coef > 0`` each trainable policy gets a reference: the base with
    its adapter disabled (LoRA), else a frozen copy saved once under ``run_dir/reference/<name>`` and always read
    back, so resume is exact.
    """
    specs = agent_configs(cfg)
    if not specs:
        raise ValueError(f"multi.workflow={cfg.multi.workflow!r} needs agents in multi.agents")
    agents: dict[str, Agent] = {}
    policies: dict[str, Policy] = {}
    bases: dict[tuple, tuple[PreTrainedModel, PreTrainedTokenizerBase]] = {}
    for index, spec in enumerate(specs):
        sampling = replace_from(cfg.sampling, spec.sampling, f"agent {spec.name}.sampling")
        if spec.share:
            agents[spec.name] = Agent(spec, agents[spec.share].policy, sampling, index)
            continue
        model_cfg = replace_from(cfg.model, spec.model, f"agent {spec.name}.model")
        device = resolve_device(spec.device or cfg.train.device)
        saved = ckpt / spec.name if ckpt is not None else None
        adapter = None
        given = (models or {}).get(spec.name) if saved is None else None
        if given is not None:
            if model_cfg.lora.r > 0:
                adapter = f"agent_{spec.name}"
            key = ("object", id(given[0]))
            obj, tok = bases.get(key, given)
            model, tok = prepare_policy(obj, tok, model_cfg, device, adapter or "default")
            if adapter is not None:
                bases[key] = (model, tok)
        elif model_cfg.lora.r > 0:
            base_cfg = without_lora(model_cfg)
            source = saved if saved is not None and is_adapter_dir(saved) else None
            if is_adapter_dir(Path(model_cfg.path).expanduser()):  # an exported agent (`credo eval --model`)
                source = source or Path(model_cfg.path).expanduser()
                base_cfg = dataclasses.replace(base_cfg, path=adapter_base(model_cfg.path))
            key = base_key(base_cfg, device)
            if key not in bases:
                base, tok, _ = load_policy(base_cfg, device)
                bases[key] = (base, tok)
            model, tok = bases[key]
            adapter = f"agent_{spec.name}"  # peft warns when an adapter name is a substring of "lora_"
            model = load_adapter(model, source, adapter) if source is not None \
                else add_adapter(model, model_cfg.lora, adapter)
            bases[key] = (model, tok)  # the first adapter wraps the base in a PeftModel; later ones join it
        else:
            load_cfg = dataclasses.replace(model_cfg, path=str(saved)) if saved is not None else model_cfg
            model, tok, _ = load_policy(load_cfg, device)
        learner = None
        if spec.trainable:
            train = dataclasses.replace(cfg.train, lr=spec.lr or cfg.train.lr)
            ref = reference_copy(model, model_cfg, run_dir / "reference" / spec.name, ckpt is not None, device) \
                if cfg.algo.kl_coef > 0 and adapter is None else None
            learner = Learner(model, tok.pad_token_id, cfg.algo, train, sampling, reference=ref, adapter=adapter)
        engine = ENGINES.get("hf")(model, tok, mixed_precision=cfg.train.mixed_precision, adapter=adapter)
        policies[spec.name] = Policy(spec.name, model, tok, engine, learner, model_cfg, adapter,
                                     context_length(model.config))
        agents[spec.name] = Agent(spec, policies[spec.name], sampling, index)
    return agents, policies


def reference_copy(model: PreTrainedModel, model_cfg: ModelConfig, path: Path, resuming: bool,
                   device: Any) -> PreTrainedModel:
    """A frozen copy of ``model`` saved once at ``path`` and always read back (bit-identical across a resume)."""
    if not (resuming and path.is_dir()):
        save_hf_dir(path, model)
    return load_causal_lm(path, dataclasses.replace(model_cfg, dtype=dtype_name(model.dtype)), device)
