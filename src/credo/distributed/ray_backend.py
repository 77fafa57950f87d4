"""Ray backend (``train.backend=ray``, extra ``credo[ray]``): the policy's model, engine and learner live in one
Ray actor (its actor group), placed in a placement group built from the recipe's ``resources`` section; the driver
is :class:`credo.train.rl.RLTrainer` itself (task, rewards, credit, selection, logging, checkpoints' trainer
state) talking to the actor through proxies with the engine's and learner's methods. Multi-agent runs (HACPO
included) place each agent's policy in an actor group of its own and run the multi-agent trainers' steps.

One random stream: every call into the actor carries the driver's RNG state (python, numpy, torch CPU) there and
back, so sampling draws the very numbers the single-process trainer draws, and a checkpoint's RNG state is the
whole run's. Metrics therefore equal the single-process trainer's for the same seed on CPU (tested). On GPU the
actor's CUDA generator is its own (seeded with ``train.seed``). The actor writes the policy (checkpoints, export,
reference) into the run folder, so on several nodes the run folder must be on a shared file system.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from credo.agents import Agent, Policy, build_agents
from credo.config import Config, agent_configs, from_dict, replace_from, to_dict
from credo.engines import build_engine
from credo.extras import require
from credo.models import load_policy
from credo.models.device import resolve_device
from credo.tasks import build_task, encode_task_prompt
from credo.train.checkpoint import export_policy, rng_state, save_checkpoint, set_rng_state
from credo.train.hacpo import HACPOTrainer
from credo.train.learner import Learner
from credo.train.multi import MultiAgentTrainer
from credo.train.rl import RLTrainer
from credo.trajectory import Trajectory
from credo.validate import check_prompt_lengths, context_length
from credo.workflows import WORKFLOWS


def require_ray():
    return require("ray", "train.backend=ray", "ray")


class PolicyWorker:
    """One trainable policy in a Ray actor: model, engine and learner. Every method takes the driver's RNG state
    and returns its own after the call (see the module docstring)."""

    merge_warm_start = RLTrainer.merge_warm_start  # the SFT warm start runs the trainer's code on the actor
    reference = RLTrainer.reference  # the KL reference, saved once and read back from the run folder

    def start(self, cfg: dict, rng: dict) -> Config:
        """The actor's first steps, before it builds its policy: the config (-> ``self.cfg``, returned), the
        driver's RNG state, ``train.threads`` and the CUDA seed."""
        self.cfg = cfg = from_dict(cfg)
        set_rng_state(rng)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(cfg.train.seed)
        return cfg

    def __init__(self, cfg: dict, ckpt: str | None, rng: dict):
        cfg = self.start(cfg, rng)
        self.device = resolve_device(cfg.train.device)
        self.run_dir = Path(cfg.log.output_dir)
        model_cfg = dataclasses.replace(cfg.model, path=str(Path(ckpt) / "policy")) if ckpt else cfg.model
        self.model, self.tok, _ = load_policy(model_cfg, self.device)
        self.sft_metrics = {}
        if ckpt is None and cfg.sft.steps > 0:  # the trainer's own warm start, on this actor's model
            self.task = build_task(cfg.task)
            self.sft_metrics = RLTrainer.warm_start(self)
        self.engine = build_engine(cfg.engine.kind, self.model, self.tok, cfg.train.mixed_precision,
                                   config=cfg.engine)
        self.learner = Learner(self.model, self.tok.pad_token_id, cfg.algo, cfg.train, cfg.sampling,
                               reference=self.reference(ckpt is not None), adapter="default")
        self.rng_after_setup = rng_state()

    def call(self, rng: dict, method: str, *args: Any) -> tuple[Any, dict]:
        """Run ``method`` (a name below) under the driver's RNG state; -> (result, RNG state after)."""
        set_rng_state(rng)
        out = getattr(self, method)(*args)
        return out, rng_state()

    def setup(self) -> tuple[Any, Any, dict, dict]:
        """(tokenizer, model config, SFT metrics, RNG state after loading the model): the driver continues from
        that state."""
        return self.tok, self.model.config, self.sft_metrics, self.rng_after_setup

    def generate(self, prompts, n, sampling, version, greedy):
        return self.engine.generate(prompts, n, sampling, version=version, greedy=greedy)

    def sync_weights(self, version: int) -> None:
        self.engine.sync_weights(version)

    def eos_ids(self) -> list[int]:
        return list(self.engine.eos_ids)

    def has_reference(self) -> bool:
        return self.learner.has_reference

    def apply(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(learner, *args)`` on this actor's learner (:meth:`credo.train.learner.Learner.apply`)."""
        return self.learner.apply(fn, *args)

    def attach_logprobs(self, trajs: list[Trajectory]) -> list[dict]:
        self.learner.attach_logprobs(trajs)
        return [t.info for t in trajs]

    def update(self, trajs: list[Trajectory]) -> dict[str, float]:
        return self.learner.update(trajs)

    def learner_state(self) -> dict:
        return self.learner.state_dict()

    def load_learner_state(self, state: dict) -> None:
        self.learner.load_state_dict(state)

    def save(self, step: int, state: dict, keep_last: int) -> str:
        return str(save_checkpoint(self.run_dir, step, {"policy": self.model}, {"policy": self.tok}, state,
                                   keep_last=keep_last))

    def export(self, path: str, merged: bool) -> str:
        return str(export_policy(Path(path), self.model, self.tok, merged))


class Remote:
    """Calls into a :class:`PolicyWorker` actor, carrying the driver's RNG state there and back."""

    def __init__(self, actor: Any):
        self.actor = actor

    def __call__(self, method: str, *args: Any) -> Any:
        out, rng = require_ray().get(self.actor.call.remote(rng_state(), method, *args))
        set_rng_state(rng)
        return out


class RemoteEngine:
    def __init__(self, remote: Remote):
        self.remote = remote

    def generate(self, prompts, n, sampling, version: int = 0, greedy: bool = False) -> list[Trajectory]:
        return self.remote("generate", prompts, n, sampling, version, greedy)

    def sync_weights(self, version: int) -> None:
        self.remote("sync_weights", version)

    @functools.cached_property
    def eos_ids(self) -> list[int]:
        return self.remote("eos_ids")


class RemoteLearner:
    def __init__(self, remote: Remote):
        self.remote = remote

    def attach_logprobs(self, trajs: list[Trajectory]) -> None:
        for t, info in zip(trajs, self.remote("attach_logprobs", trajs)):
            t.info = info

    def update(self, trajs: list[Trajectory]) -> dict[str, float]:
        return self.remote("update", trajs)

    @functools.cached_property
    def has_reference(self) -> bool:
        return self.remote("has_reference")

    def apply(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(learner, *args)`` in the actor: ``fn`` is a module-level function (sent by reference), its
        arguments and result are copied (changes ``fn`` makes to them stay in the actor)."""
        return self.remote("apply", fn, *args)

    def state_dict(self) -> dict:
        return self.remote("learner_state")

    def load_state_dict(self, state: dict) -> None:
        self.remote("load_learner_state", state)


def bundle(resources: dict, name: str) -> dict[str, float]:
    """A placement-group bundle from ``resources[name]`` (default: 1 CPU)."""
    r = resources.get(name, {})
    out = {"CPU": float(r.get("num_cpus", 1))}
    if r.get("num_gpus", 0):
        out["GPU"] = float(r["num_gpus"])
    return out


def place_actor(cfg: Config, name: str, worker: type, *args: Any) -> Any:
    """Start ``worker(*args)`` (a :class:`PolicyWorker`) for policy ``name`` in its own placement group (Ray is
    started locally unless ``RAY_ADDRESS`` names a cluster); -> (actor, placement group)."""
    ray = require_ray()
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    b = bundle(cfg.resources, name)
    pg = placement_group([b], strategy="PACK")
    ray.get(pg.ready())
    strategy = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=0)
    return ray.remote(worker).options(num_cpus=b["CPU"], num_gpus=b.get("GPU", 0),
                                            scheduling_strategy=strategy).remote(*args), pg


def driver_config(cfg: Config) -> Config:
    """The config as the driver opens the run with: on the CPU (``train.device`` is the actors' device, which the
    driver's machine may not have)."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device="cpu"))


def release(actors: list, placements: list) -> None:
    """Stop actors and remove their placement groups (a placement group outlives its actors' handles)."""
    ray = require_ray()
    if not ray.is_initialized():
        return
    for actor in actors:
        ray.kill(actor)
    for pg in placements:
        ray.util.remove_placement_group(pg)


class RayTrainer(RLTrainer):
    """The single-process trainer's RL step with the policy in a Ray actor (see the module docstring)."""

    def __init__(self, cfg: Config, resume: bool = False, overwrite: bool = False, **objects: Any):
        if objects.get("model") is not None or objects.get("tokenizer") is not None:
            raise ValueError("train.backend=ray loads the model in its actor: give model.path, not a model object")
        ckpt = self._open(driver_config(cfg), resume, overwrite, objects.get("data"), objects.get("reward_funcs"),
                          objects.get("reward_weights"))
        self.cfg = cfg
        if ckpt is None and cfg.sft.steps > 0 and objects.get("data") is not None:
            raise ValueError("train.backend=ray: the SFT warm start reads the task from the config (task.path), "
                             "not from a data object")
        actor, self.placement = place_actor(cfg, "policy", PolicyWorker, to_dict(cfg), str(ckpt) if ckpt else None,
                                            rng_state())
        remote = Remote(actor)
        self.actor = actor
        self.close = weakref.finalize(self, release, [actor], [self.placement])  # close() or garbage collection
        self.tok, model_config, sft_metrics, rng = require_ray().get(actor.setup.remote())
        set_rng_state(rng)
        if sft_metrics:
            self.sft_metrics = sft_metrics
        check_prompt_lengths(lambda r: encode_task_prompt(self.tok, self.task, r, cfg.model.chat_template),
                             self.train_rows + self.eval_rows, cfg.sampling.max_new_tokens,
                             context_length(model_config),
                             text=self.task.prompt)
        self.engine, self.learner = RemoteEngine(remote), RemoteLearner(remote)
        state = self._restore(ckpt)
        if state is not None:
            self.learner.load_state_dict(state["learner"])
        self._start_logging(ckpt)

    def save(self) -> Path:
        state = {"learner": self.learner.state_dict(), "cursor": self.cursor.state_dict(),
                 "next_group": self.next_group, "reward_noise": self.noise.state_dict() if self.noise else None}
        return Path(self.engine.remote("save", self.step, state, self.cfg.log.keep_last))

    def export(self, path: str | Path | None = None) -> Path:
        out = Path(path) if path is not None else self.run_dir / "policy"
        return Path(self.engine.remote("export", str(out), self.cfg.model.lora.merge_on_export))



class AgentWorker(PolicyWorker):
    """The policy of one agent of a multi-agent run in a Ray actor, built by :func:`credo.agents.build_agents`
    from that agent's entry alone (agents that ``share`` it use it through the driver)."""

    def __init__(self, cfg: dict, name: str, ckpt: str | None, rng: dict):
        cfg = self.start(cfg, rng)
        one = copy.deepcopy(cfg)
        one.multi.agents = [a for a in cfg.multi.agents if a["name"] == name]
        self.run_dir = Path(cfg.log.output_dir)
        self.agents, policies = build_agents(one, self.run_dir, Path(ckpt) if ckpt else None)
        self.policy = p = policies[name]
        self.model, self.tok, self.engine, self.learner = p.model, p.tok, p.engine, p.learner
        self.rng_after_setup = rng_state()

    def setup(self) -> tuple[Any, Any, dict, dict]:
        extra = {"adapter": self.policy.adapter, "context": self.policy.context}
        return self.tok, self.policy.model_cfg, extra, self.rng_after_setup

    def warm_start(self) -> dict[str, float]:
        """The multi-agent trainer's SFT warm start of this actor's agent."""
        self.train_rows = build_task(self.cfg.task).rows("train")
        return MultiAgentTrainer.warm_start(self)

    def save_policy(self, out: str) -> None:
        self.policy.save_pretrained(Path(out))

    def export(self, path: str, merged: bool) -> str:
        return str(export_policy(Path(path), self.model, self.tok, merged, adapter=self.policy.adapter or "default"))


@dataclasses.dataclass
class RemotePolicy(Policy):
    """A :class:`credo.agents.Policy` whose model lives in an :class:`AgentWorker` actor."""

    remote: Any = None

    def save_pretrained(self, out: Path, **_: Any) -> None:
        self.remote("save_policy", str(out))


class RayMultiAgentTrainer(MultiAgentTrainer):
    """The multi-agent trainer's step with each agent's policy in its own Ray actor group, placed from
    ``resources[<agent name>]``."""

    def __init__(self, cfg: Config, resume: bool = False, overwrite: bool = False, **objects: Any):
        if objects.get("models"):
            raise ValueError("train.backend=ray loads each agent's model in its actor: give model sections, "
                             "not model objects")
        ray = require_ray()
        ckpt = self._open(driver_config(cfg), resume, overwrite, objects.get("data"))
        self.cfg = cfg
        if ckpt is None and cfg.sft.steps > 0 and objects.get("data") is not None:
            raise ValueError("train.backend=ray: the SFT warm start reads the task from the config (task.path), "
                             "not from a data object")
        workflow_cls = WORKFLOWS.get(cfg.multi.workflow)
        self.agents, self.policies, self.placements, self.actors = {}, {}, [], []
        self.close = weakref.finalize(self, release, self.actors, self.placements)  # close() or garbage collection
        for index, spec in enumerate(agent_configs(cfg)):
            sampling = replace_from(cfg.sampling, spec.sampling, f"agent {spec.name}.sampling")
            if spec.share:
                self.agents[spec.name] = Agent(spec, self.agents[spec.share].policy, sampling, index)
                continue
            actor, pg = place_actor(cfg, spec.name, AgentWorker, to_dict(cfg), spec.name,
                                    str(ckpt) if ckpt else None, rng_state())
            tok, model_cfg, extra, rng = ray.get(actor.setup.remote())
            set_rng_state(rng)
            remote = Remote(actor)
            self.actors.append(actor)
            self.placements.append(pg)
            self.policies[spec.name] = RemotePolicy(spec.name, None, tok, RemoteEngine(remote),
                                                    RemoteLearner(remote) if spec.trainable else None, model_cfg,
                                                    extra["adapter"], extra["context"], remote=remote)
            self.agents[spec.name] = Agent(spec, self.policies[spec.name], sampling, index)
        self.start_workflow(workflow_cls, ckpt)

    def warm_start(self) -> dict[str, float]:
        """Each actor's SFT warm start of its agent (:meth:`AgentWorker.warm_start`), metrics merged."""
        out: dict[str, float] = {}
        for p in self.policies.values():
            out |= p.remote("warm_start")
        return out

    def export(self, path: str | Path | None = None) -> Path:
        root = Path(path) if path is not None else self.run_dir / "agents"
        for name, p in self.policies.items():
            p.remote("export", str(root / name), p.model_cfg.lora.merge_on_export)
        return root


class RayHACPOTrainer(RayMultiAgentTrainer, HACPOTrainer):
    """HACPO (``multi.workflow: hacpo``) with each agent's policy in its own Ray actor group, placed from
    ``resources[<agent name>]`` (agents of different models and tokenizers on different GPUs). The step is
    :meth:`credo.train.hacpo.HACPOTrainer.train_step` itself: rollouts, verification, the capability tracker,
    re-tokenisation of the other agents' answers (with the learner's tokenizer, which the driver holds) and the
    advantages run on the driver; old and reference log-probs of a learner's own and cross rows and its update
    (:func:`credo.train.hacpo_update.hacpo_update`) run in that learner's actor."""
