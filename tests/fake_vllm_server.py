"""A fake ``vllm serve`` for CPU tests: the endpoints and response fields ``credo.engines.vllm_server`` uses, backed
by a Hugging Face model directory sampled on CPU (no KV cache, one sequence at a time).

- ``POST /v1/completions``: token-id prompts, ``n``, ``seed`` (choice j of a request draws from
  ``torch.Generator().manual_seed(seed + j)``), ``temperature`` (0 = greedy), ``top_p``, ``top_k``, ``max_tokens``,
  ``stop`` (the token that completes a stop string is kept), EOS, ``logprobs`` (the sampled token's log-prob:
  after temperature with ``--logprobs-mode processed_logprobs``, else raw, as vLLM), ``return_tokens_as_token_ids``.
- ``GET /health``, ``GET /v1/models``.
- Only with ``dev_mode`` (``VLLM_SERVER_DEV_MODE=1``): ``POST /collective_rpc`` ``reload_weights`` (reads the
  served directory again) and ``POST /reset_prefix_cache``.
- Only with ``lora_updating`` (``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``): ``POST /v1/load_lora_adapter`` (a new
  name; requires ``--enable-lora``) and ``/v1/unload_lora_adapter``.

Run in-process with :func:`serve_in_thread`, or as ``python fake_vllm_server.py serve DIR --port P ...`` (what the
fake ``vllm`` executable of the launcher tests runs).
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import sys
import threading
import time

import torch
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from transformers import AutoModelForCausalLM, AutoTokenizer


class FakeVLLM:
    def __init__(self, model_dir: str, logprobs_mode: str = "raw_logprobs", enable_lora: bool = False):
        self.dir, self.logprobs_mode, self.enable_lora = str(model_dir), logprobs_mode, enable_lora
        self.tok = AutoTokenizer.from_pretrained(self.dir)
        self.models = {self.dir: self.load()}
        self.lock = threading.Lock()
        self.calls: list[str] = []  # the weight-sync endpoints called, in order

    def load(self):
        model, info = AutoModelForCausalLM.from_pretrained(self.dir, dtype=torch.float32, output_loading_info=True)
        bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        if bad:  # vLLM refuses such a checkpoint too; transformers would initialise the missing weights at random
            raise ValueError(f"{self.dir}: weights do not match the model's config: {bad}")
        return model.eval()

    @torch.no_grad()
    def sample(self, model, prompt: list[int], req: dict, seed: int) -> dict:
        gen = torch.Generator().manual_seed(seed)
        temp = float(req.get("temperature", 1.0))
        greedy = temp < 1e-5
        top_k, top_p = int(req.get("top_k", -1)), float(req.get("top_p", 1.0))
        stops = req.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        seq, toks, lps, finish = list(prompt), [], [], "length"
        for _ in range(int(req.get("max_tokens", 16))):
            logits = model(input_ids=torch.tensor([seq])).logits[0, -1].float()
            raw = torch.log_softmax(logits, -1)
            processed = raw if greedy else torch.log_softmax(logits / temp, -1)
            if greedy:
                tok = int(raw.argmax())
            else:
                probs = processed.exp()
                if top_k > 0:
                    probs[probs < probs.topk(top_k).values[-1]] = 0
                if top_p < 1:
                    p, idx = probs.sort(descending=True)
                    drop = (p.cumsum(0) - p) > top_p
                    probs[idx[drop]] = 0
                tok = int(torch.multinomial(probs / probs.sum(), 1, generator=gen))
            seq.append(tok)
            toks.append(tok)
            lps.append(float((processed if self.logprobs_mode == "processed_logprobs" else raw)[tok]))
            if tok == self.tok.eos_token_id or any(s in self.tok.decode(toks, skip_special_tokens=True)
                                                   for s in stops):
                finish = "stop"
                break
        text = self.tok.decode(toks, skip_special_tokens=True)
        if finish == "stop" and stops and not req.get("include_stop_str_in_output", False):
            text = text[:min((text.find(s) for s in stops if s in text), default=len(text))]
        names = [f"token_id:{t}" if req.get("return_tokens_as_token_ids") else self.tok.decode([t]) for t in toks]
        logprobs = None
        if req.get("logprobs") is not None:
            logprobs = {"tokens": names, "token_logprobs": lps, "top_logprobs": [{n: lp} for n, lp in zip(names, lps)],
                        "text_offset": [0] * len(toks)}
        return {"text": text, "logprobs": logprobs, "finish_reason": finish}


def build_app(fake: FakeVLLM, dev_mode: bool = True, lora_updating: bool = True) -> FastAPI:
    app = FastAPI()
    app.state.fake = fake

    @app.get("/health")
    def health():
        return Response(status_code=200)

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "vllm"}
                                           for m in fake.models]}

    @app.post("/v1/completions")
    def completions(req: dict):
        model = fake.models.get(req.get("model"))
        if model is None:
            return JSONResponse({"error": {"message": f"The model `{req.get('model')}` does not exist."}}, 404)
        prompt = req["prompt"]
        if not (isinstance(prompt, list) and all(isinstance(t, int) for t in prompt)):
            raise HTTPException(400, "this fake takes one prompt of token ids")
        seed = req.get("seed")
        seed = int(seed) if seed is not None else int(time.time_ns() % 2**31)
        with fake.lock:
            choices = [{"index": j, **fake.sample(model, prompt, req, seed + j)} for j in range(int(req.get("n", 1)))]
        used = sum(len(c["logprobs"]["tokens"]) if c["logprobs"] else 0 for c in choices)
        return {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": req["model"],
                "choices": choices, "usage": {"prompt_tokens": len(prompt), "completion_tokens": used,
                                              "total_tokens": len(prompt) + used}}

    if dev_mode:
        @app.post("/collective_rpc")
        def collective_rpc(body: dict):
            if body.get("method") != "reload_weights":
                raise HTTPException(400, f"this fake runs reload_weights only, not {body.get('method')}")
            with fake.lock:
                fake.models[fake.dir] = fake.load()
            fake.calls.append("reload_weights")
            return Response(status_code=200)

        @app.post("/reset_prefix_cache")
        def reset_prefix_cache():
            fake.calls.append("reset_prefix_cache")
            return Response(status_code=200)

    if lora_updating:
        @app.post("/v1/load_lora_adapter")
        def load_lora_adapter(body: dict):
            from peft import PeftModel

            name = body["lora_name"]
            if not fake.enable_lora:
                raise HTTPException(400, "LoRA is not enabled (--enable-lora)")
            if name in fake.models:
                raise HTTPException(400, f"The lora adapter '{name}' has already been loaded.")
            with fake.lock:
                base = copy.deepcopy(fake.models[fake.dir])
                fake.models[name] = PeftModel.from_pretrained(base, body["lora_path"]).eval()
            fake.calls.append(f"load {name}")
            return Response(status_code=200)

        @app.post("/v1/unload_lora_adapter")
        def unload_lora_adapter(body: dict):
            if fake.models.pop(body["lora_name"], None) is None:
                raise HTTPException(404, f"The lora adapter '{body['lora_name']}' cannot be found.")
            fake.calls.append(f"unload {body['lora_name']}")
            return Response(status_code=200)

    return app


def serve_in_thread(app: FastAPI, port: int = 0):
    """Serve ``app`` on 127.0.0.1 in a daemon thread; returns ``(url, stop)``."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop():
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def main(argv: list[str]) -> None:
    """``serve DIR --port P [--logprobs-mode M] [--enable-lora] ...`` (other vllm flags are accepted and ignored)."""
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["serve"])
    p.add_argument("model")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--logprobs-mode", default="raw_logprobs")
    p.add_argument("--enable-lora", action="store_true")
    args, _ = p.parse_known_args(argv)
    torch.set_num_threads(1)
    fake = FakeVLLM(args.model, args.logprobs_mode, args.enable_lora)
    app = build_app(fake, dev_mode=os.environ.get("VLLM_SERVER_DEV_MODE") == "1",
                    lora_updating=os.environ.get("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "").lower() in ("true", "1"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
