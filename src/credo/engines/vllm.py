"""vLLM engine (``engine.kind=vllm``): the engine contract of :mod:`credo.engines` on vLLM.

- Sampling: one ``generate`` call per batch with ``SamplingParams(n=..., stop=..., logprobs=0, seed=...)``; the
  seed is drawn from torch's global generator (``torch.manual_seed`` makes a call reproducible, as for ``hf``);
  prefix caching (``engine.prefix_caching``) shares a prompt's KV cache across its n samples. Log-probs are vLLM's
  ``processed_logprobs`` (after temperature), the distribution the trainer's forward uses.
- ``engine.mode=colocate`` (extra ``credo[vllm]``, a GPU): vLLM runs in the trainer's process on the same GPU,
  asleep (weights offloaded, KV cache freed) while the learner trains; ``sync_weights`` loads the learner's state
  dict into the woken model, or serves the saved LoRA adapter as a new ``LoRARequest`` (never merged).
- ``engine.mode=server`` (:mod:`credo.engines.vllm_server`; the trainer needs only ``openai``, not vllm): a
  ``vllm serve`` at ``engine.url``, or, with ``engine.url`` empty, one credo starts on the saved policy
  (``vllm serve DIR``, stopped by :meth:`VLLMEngine.close`, garbage collection or interpreter exit). Weights travel
  through files the server reads: a LoRA adapter is saved and loaded as a new served adapter per version
  (``/v1/load_lora_adapter``), full weights are written over the served directory and reloaded
  (``/collective_rpc reload_weights``, then ``/reset_prefix_cache``).

Tested on CPU: server mode against ``tests/fake_vllm_server.py`` (the engine contract, weight pushes, the launcher).
Untested: real vLLM (colocate and server), which needs a GPU; ``tests/gpu`` holds the check that runs it.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path

import torch

from credo.config import EngineConfig, SamplingConfig
from credo.engines import ENGINES
from credo.engines.vllm_server import LORA_RANKS, VLLMServer, free_port, launch, release, serve_command
from credo.extras import require
from credo.models.lora import is_peft, save_adapter
from credo.trajectory import Trajectory


def require_vllm():
    return require("vllm", "engine.kind=vllm (on a machine with a GPU)", "vllm")


def trajectory(prompt: list[int], tokens: list[int], logprobs: list[float], finish: str, text: str,
               group: int, version: int) -> Trajectory:
    """One engine output as a :class:`Trajectory` (CPU tensors)."""
    resp = torch.tensor(tokens, dtype=torch.long, device="cpu")
    return Trajectory(prompt_ids=torch.tensor(prompt, dtype=torch.long, device="cpu"), response_ids=resp,
                      logprobs=torch.tensor(logprobs, dtype=torch.float32, device="cpu"),
                      loss_mask=torch.ones(len(tokens), dtype=torch.float32, device="cpu"),
                      versions=torch.full((len(tokens),), version, dtype=torch.long, device="cpu"),
                      response_text=text, group_id=group, finish_reason="stop" if finish == "stop" else "length")


def request_fields(sampling: SamplingConfig, n: int, greedy: bool) -> dict:
    """Sampling keys shared by ``SamplingParams`` and the server's completions request."""
    return {"n": n, "temperature": 0.0 if greedy else sampling.temperature, "top_p": sampling.top_p,
            "top_k": sampling.top_k if sampling.top_k > 0 else -1, "max_tokens": sampling.max_new_tokens,
            "stop": list(sampling.stop), "seed": int(torch.randint(2**31 - 1, (1,), device="cpu"))}


@ENGINES.register("vllm")
class VLLMEngine:
    def __init__(self, model, tokenizer, mixed_precision: str = "no", adapter: str | None = None,
                 config: EngineConfig | None = None):
        self.model, self.tok, self.adapter = model, tokenizer, adapter or "default"
        self.cfg = config or EngineConfig()
        self.lora = is_peft(model)
        self.weights_dir = Path(tempfile.mkdtemp(prefix="credo-vllm-"))
        self.lora_request, self.llm, self.asleep, self.server, self.served = None, None, False, None, ""
        self.process = None
        self.procs: list = []  # the server credo started, if any
        self.finalizer = weakref.finalize(self, release, self.procs, self.weights_dir)  # close(), GC or exit
        if self.cfg.mode == "server":
            url = self.cfg.url
            if not url:
                base, dtype = self.save_base()
                cmd = serve_command(base, self.cfg.port or free_port(), dtype, self.cfg.gpu_memory_utilization,
                                    self.cfg.prefix_caching, self.lora_rank(), self.cfg.serve_args)
                self.process, url = launch(cmd, self.cfg.start_timeout, self.lora)
                self.procs.append(self.process)
            self.server = VLLMServer(url)
            self.served = self.server.model
        else:
            vllm = require_vllm()
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the model lives in this process
            base, dtype = self.save_base()
            self.llm = vllm.LLM(model=str(base), dtype=dtype, gpu_memory_utilization=self.cfg.gpu_memory_utilization,
                                enable_prefix_caching=self.cfg.prefix_caching, enable_sleep_mode=True,
                                enable_lora=self.lora, max_lora_rank=max(self.lora_rank(), 8),
                                logprobs_mode="processed_logprobs")
        self.sync_weights(0)

    def lora_rank(self) -> int:
        """The smallest ``max_lora_rank`` vLLM accepts that holds the adapter's rank (0 without LoRA)."""
        if not self.lora:
            return 0
        r = self.model.peft_config[self.adapter].r
        return next((x for x in LORA_RANKS if x >= r), r)

    def save_base(self) -> tuple[Path, str]:
        """Write the base model and tokenizer for vLLM to load; returns (directory, dtype name)."""
        base = self.model.get_base_model() if self.lora else self.model
        path = self.weights_dir / "base"
        state = base.state_dict()
        if self.lora:  # peft's wrapped layers: keep the base weights under their plain names
            state = {k.replace(".base_layer.", "."): v for k, v in state.items() if ".lora_" not in k}
        base.save_pretrained(path, state_dict=state, safe_serialization=True)
        self.tok.save_pretrained(path)
        return path, str(base.dtype).split(".")[-1]

    def close(self) -> None:
        """Stop the server credo started, if any, and delete the saved weights."""
        self.finalizer()

    def generate(self, prompts: list[list[int]], n: int, sampling: SamplingConfig, version: int = 0,
                 greedy: bool = False) -> list[Trajectory]:
        fields = request_fields(sampling, n, greedy)
        if self.server is not None:
            outs = self.server.complete(self.served, prompts, fields)
            return [trajectory(prompts[i], *row, i, version)
                    for i, rows in enumerate(outs) for row in rows]
        vllm = require_vllm()
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False
        params = vllm.SamplingParams(**fields, logprobs=0, include_stop_str_in_output=True)
        outs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params,
                                 lora_request=self.lora_request, use_tqdm=False)
        trajs = []
        for i, out in enumerate(outs):
            for c in out.outputs:
                lps = [step[tok].logprob for tok, step in zip(c.token_ids, c.logprobs)]
                trajs.append(trajectory(prompts[i], list(c.token_ids), lps, c.finish_reason, c.text, i, version))
        self.llm.sleep(level=1)  # free the GPU for the update
        self.asleep = True
        return trajs

    def sync_weights(self, version: int) -> None:
        """Push the learner's weights: a new LoRA adapter directory, or the full state dict."""
        if self.lora:
            path = self.weights_dir / f"adapter-{version}"
            save_adapter(self.model, path, self.adapter)
            if self.server is not None:
                name = f"policy-{version}"
                self.server.load_adapter(name, path, drop=self.served if self.served != self.server.model else None)
                self.served = name
            else:
                from vllm.lora.request import LoRARequest
                self.lora_request = LoRARequest(f"policy-{version}", version + 1, str(path))
            return
        if version == 0:
            return  # the engine was started from these weights
        if self.server is not None:
            served = Path(self.served)  # `vllm serve DIR` serves the model id DIR: the weights are rewritten there
            if not (served / "config.json").is_file():
                raise RuntimeError(f"engine.mode=server: full-weight sync rewrites the served directory, but the "
                                   f"server's model {self.served!r} is not a directory here; serve a local "
                                   "directory or train a LoRA adapter")
            self.model.save_pretrained(served, safe_serialization=True)
            self.server.reload_weights()
            return
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False
        runner = self.llm.llm_engine.model_executor.driver_worker.worker.model_runner
        runner.model.load_weights(((k, v.detach()) for k, v in self.model.state_dict().items()))
        self.llm.reset_prefix_cache()  # cached KV was computed with the old weights
