"""vLLM engine (``engine.kind=vllm``, extra ``credo[vllm]``, needs a GPU): the engine contract of
:mod:`credo.engines` on vLLM. Untested here: the project's CPU test machines cannot run vLLM; ``tests/gpu`` holds the
check that runs it.

- Sampling: one ``generate`` call per batch with ``SamplingParams(n=..., stop=..., logprobs=0, seed=...)``; the
  seed is drawn from torch's global generator (``torch.manual_seed`` makes a call reproducible, as for ``hf``);
  prefix caching (``engine.prefix_caching``) shares a prompt's KV cache across its n samples. Log-probs are vLLM's
  ``processed_logprobs`` (after temperature), the distribution the trainer's forward uses.
- LoRA: the adapter is saved after each update and served as a new ``LoRARequest`` (never merged).
- Weight sync (``sync_weights``): ``engine.mode=colocate`` runs vLLM in the trainer's process on the same GPU,
  asleep (weights offloaded, KV cache freed) while the learner trains, and loads the learner's state dict into the
  woken model; ``engine.mode=server`` talks to a ``vllm serve`` at ``engine.url`` (OpenAI completions with token
  ids) and pushes weights by saving them to the served directory and asking the server to reload them (LoRA: the
  ``/v1/load_lora_adapter`` endpoint, the server started with ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``; full
  weights: ``/collective_rpc`` ``reload_weights``, the server started with ``VLLM_SERVER_DEV_MODE=1``).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from pathlib import Path

import torch

from credo.config import EngineConfig, SamplingConfig
from credo.engines import ENGINES
from credo.models.lora import is_peft, save_adapter
from credo.trajectory import Trajectory


def require_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ImportError("engine.kind=vllm needs vLLM: pip install 'credo[vllm]' (on a machine with a GPU)") from e
    return vllm


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
        self.lora_request, self.llm, self.asleep = None, None, False
        if self.cfg.mode == "server":
            self.url = self.cfg.url.rstrip("/")
            self.served = json.loads(urllib.request.urlopen(f"{self.url}/v1/models").read())["data"][0]["id"]
        else:
            vllm = require_vllm()
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the model lives in this process
            base = model.get_base_model() if self.lora else model
            base.save_pretrained(self.weights_dir / "base", safe_serialization=True)
            tokenizer.save_pretrained(self.weights_dir / "base")
            self.llm = vllm.LLM(model=str(self.weights_dir / "base"), dtype=str(base.dtype).split(".")[-1],
                                gpu_memory_utilization=self.cfg.gpu_memory_utilization,
                                enable_prefix_caching=self.cfg.prefix_caching, enable_sleep_mode=True,
                                enable_lora=self.lora, max_lora_rank=64, logprobs_mode="processed_logprobs")
        self.sync_weights(0)

    def generate(self, prompts: list[list[int]], n: int, sampling: SamplingConfig, version: int = 0,
                 greedy: bool = False) -> list[Trajectory]:
        fields = request_fields(sampling, n, greedy)
        if self.llm is None:
            return self._generate_server(prompts, fields, version)
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

    def _generate_server(self, prompts, fields, version):
        trajs = []
        for i, p in enumerate(prompts):
            body = {"model": self.served, "prompt": list(p), "logprobs": 1, "return_tokens_as_token_ids": True,
                    **fields}
            req = urllib.request.Request(f"{self.url}/v1/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            for c in json.loads(urllib.request.urlopen(req).read())["choices"]:
                lp = c["logprobs"]
                tokens = [int(t.split(":", 1)[1]) for t in lp["tokens"]]
                trajs.append(trajectory(p, tokens, lp["token_logprobs"], c["finish_reason"], c["text"], i, version))
        return trajs

    def _post(self, path: str, body: dict) -> None:
        req = urllib.request.Request(f"{self.url}{path}", json.dumps(body).encode(), {"Content-Type":
                                                                                   "application/json"})
        urllib.request.urlopen(req).read()

    def sync_weights(self, version: int) -> None:
        """Push the learner's weights: a new LoRA adapter directory, or the full state dict."""
        if self.lora:
            path = self.weights_dir / f"adapter-{version}"
            save_adapter(self.model, path, self.adapter)
            if self.llm is None:
                self._post("/v1/load_lora_adapter", {"lora_name": self.served, "lora_path": str(path)})
            else:
                from vllm.lora.request import LoRARequest
                self.lora_request = LoRARequest(f"policy-{version}", version + 1, str(path))
            return
        if version == 0:
            return  # the engine was started from these weights
        if self.llm is None:
            served = Path(self.served)  # `vllm serve DIR` serves the model id DIR: the weights are rewritten there
            if not (served / "config.json").is_file():
                raise RuntimeError(f"engine.mode=server: full-weight sync rewrites the served directory, but the "
                                   f"server's model {self.served!r} is not a directory here; serve a local "
                                   "directory or train a LoRA adapter")
            self.model.save_pretrained(served, safe_serialization=True)
            self._post("/collective_rpc", {"method": "reload_weights"})
            return
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False
        runner = self.llm.llm_engine.model_executor.driver_worker.worker.model_runner
        runner.model.load_weights(((k, v.detach()) for k, v in self.model.state_dict().items()))
