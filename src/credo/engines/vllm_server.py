"""The HTTP side of ``engine.kind=vllm engine.mode=server``: :class:`VLLMServer`, a client for a ``vllm serve``
(completions through the ``openai`` client, vLLM's own endpoints through the same client's raw ``get``/``post``), and
:func:`launch`, which starts ``vllm serve`` as a subprocess. Nothing here imports vllm: the trainer's process needs
only ``openai`` (``pip install 'credo[vllm-client]'``).

Endpoints used: ``GET /v1/models`` (the served model id), ``POST /v1/completions`` (token-id prompts, ``n``,
``seed``, ``stop``, ``logprobs=0`` with ``return_tokens_as_token_ids``), ``GET /health``, and for weight sync
``POST /v1/load_lora_adapter`` / ``/v1/unload_lora_adapter`` (server env ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``),
``POST /collective_rpc`` ``reload_weights`` and ``POST /reset_prefix_cache`` (server env ``VLLM_SERVER_DEV_MODE=1``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from credo.extras import require

LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the --max-lora-rank values vLLM accepts


def require_openai():
    return require("openai", "engine.mode=server", "vllm-client")


class VLLMServer:
    """A running ``vllm serve`` at ``url``; ``model`` is the served model id (``vllm serve DIR`` serves ``DIR``)."""

    def __init__(self, url: str, timeout: float = 600.0):
        openai = require_openai()
        self.url = url.rstrip("/")
        key = os.environ.get("VLLM_API_KEY", "EMPTY")
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, timeout=timeout, max_retries=0)
        self.root = openai.OpenAI(base_url=self.url, api_key=key, timeout=timeout, max_retries=0)
        try:
            self.model = self.client.models.list().data[0].id
        except openai.APIError as e:
            raise RuntimeError(f"engine.url={url}: no vLLM server answers there ({type(e).__name__}: {e})") from e

    def complete(self, model: str, prompts: list[list[int]], fields: dict) -> list[list[tuple]]:
        """Sample ``fields['n']`` completions of each prompt: per prompt, a list of ``(token_ids, logprobs,
        finish_reason, text)``. One request per prompt, sent concurrently (the server batches them); prompt i uses
        seed ``fields['seed'] + i`` so that equal prompts in a batch draw different samples."""
        extra = {"top_k": fields["top_k"], "return_tokens_as_token_ids": True, "include_stop_str_in_output": True}

        def one(i: int) -> list[tuple]:
            out = self.client.completions.create(
                model=model, prompt=list(prompts[i]), n=fields["n"], temperature=fields["temperature"],
                top_p=fields["top_p"], max_tokens=fields["max_tokens"], stop=fields["stop"] or None,
                seed=(fields["seed"] + i) % (2**31 - 1), logprobs=0, extra_body=extra)
            rows = []
            for c in sorted(out.choices, key=lambda c: c.index):
                tokens = [int(t.split(":", 1)[1]) for t in c.logprobs.tokens]  # "token_id:123"
                rows.append((tokens, list(c.logprobs.token_logprobs), c.finish_reason, c.text))
            return rows

        with ThreadPoolExecutor(max_workers=max(1, min(len(prompts), 32))) as pool:
            return list(pool.map(one, range(len(prompts))))

    def post(self, path: str, body: dict | None = None) -> object:
        """POST to one of vLLM's own endpoints (``path`` from the server root, e.g. ``/collective_rpc``)."""
        return self.root.post(path, body=body or {}, cast_to=object)

    def load_adapter(self, name: str, path: str | Path, drop: str | None = None) -> None:
        """Serve the LoRA adapter directory ``path`` as model ``name``; unload the adapter ``drop``."""
        self.post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(path)})
        if drop:
            self.post("/v1/unload_lora_adapter", {"lora_name": drop})

    def reload_weights(self) -> None:
        """Reload the served directory's weights (rewritten by the caller) and drop KV cached under the old ones."""
        self.post("/collective_rpc", {"method": "reload_weights"})
        self.post("/reset_prefix_cache")


def healthy(root) -> bool:
    """Whether ``GET /health`` answers 200 (``root``: an OpenAI client whose base URL is the server root)."""
    try:
        root.get("/health", cast_to=object)
        return True
    except require_openai().APIError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(model_dir: str | Path, port: int, dtype: str, gpu_memory_utilization: float,
                  prefix_caching: bool, lora_rank: int = 0, serve_args: str = "") -> list[str]:
    """The ``vllm serve`` command line credo runs (``lora_rank > 0``: LoRA enabled, ``--max-lora-rank`` that)."""
    cmd = ["vllm", "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype,
           "--gpu-memory-utilization", str(gpu_memory_utilization), "--logprobs-mode", "processed_logprobs",
           "--enable-prefix-caching" if prefix_caching else "--no-enable-prefix-caching"]
    if lora_rank > 0:
        cmd += ["--enable-lora", "--max-lora-rank", str(lora_rank)]
    return cmd + shlex.split(serve_args)


def stop(proc: subprocess.Popen) -> None:
    """Terminate the server's process group (vLLM's engine processes with it); kill it after 30 s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass


def release(procs: list[subprocess.Popen], weights_dir: Path) -> None:
    """Stop the servers in ``procs`` and delete ``weights_dir`` (the engine's finalizer)."""
    for proc in procs:
        stop(proc)
    shutil.rmtree(weights_dir, ignore_errors=True)


def launch(cmd: list[str], timeout: float, lora: bool) -> tuple[subprocess.Popen, str]:
    """Start ``cmd`` (a :func:`serve_command`) with the env weight sync needs, its output in a temp file
    ``credo-vllm-serve-*.log`` (kept); wait until ``/health`` answers. Returns ``(process, url)``; the caller stops
    it with :func:`stop`."""
    if shutil.which(cmd[0]) is None:
        raise RuntimeError(f"engine.mode=server with an empty engine.url starts `{cmd[0]} serve`, but no `{cmd[0]}` "
                           "is on PATH: pip install 'credo[vllm]' or set engine.url to a running server")
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1"}
    if lora:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    url = f"http://127.0.0.1:{cmd[cmd.index('--port') + 1]}"
    fd, log_path = tempfile.mkstemp(prefix="credo-vllm-serve-", suffix=".log")
    with os.fdopen(fd, "w") as log:  # the child keeps its own copy of the file descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    root = require_openai().OpenAI(base_url=url, api_key="EMPTY", timeout=5.0, max_retries=0)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if healthy(root):
            return proc, url
        time.sleep(0.5)
    why = f"exited with code {proc.returncode}" if proc.poll() is not None else f"not healthy after {timeout:g} s"
    stop(proc)
    raise RuntimeError(f"engine.mode=server: `{shlex.join(cmd)}` {why} (log: {log_path}); fix the command "
                       "(engine.serve_args, engine.start_timeout) or set engine.url to a running server")
