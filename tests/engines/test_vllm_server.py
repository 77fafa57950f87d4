"""``engine.kind=vllm engine.mode=server`` on CPU, against the fake vLLM server (tests/fake_vllm_server.py): the
engine contract through HTTP (request building, response parsing, token ids, log-probs, n samples, stop strings,
seeds, weight pushes) for a full-weight and a LoRA policy, and the launcher with a fake ``vllm`` on PATH."""

import os
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import torch  # noqa: E402
from engine_contract import EngineContract, trainer_logprobs  # noqa: E402
from fake_vllm_server import FakeVLLM, build_app, serve_in_thread  # noqa: E402

from credo.config import EngineConfig, LoraConfig, SamplingConfig  # noqa: E402
from credo.engines import ENGINES  # noqa: E402
from credo.models.lora import add_adapter  # noqa: E402

FAKE = Path(__file__).parent.parent / "fake_vllm_server.py"


@pytest.fixture()
def served(tiny_policy, tmp_path):
    """(model, tokenizer, fake, url): the tiny policy saved to a directory the fake server serves."""
    model, tok = tiny_policy
    model.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    fake = FakeVLLM(str(tmp_path / "policy"), "processed_logprobs", enable_lora=True)
    url, stop = serve_in_thread(build_app(fake))
    yield model, tok, fake, url
    stop()


class TestVLLMServerEngine(EngineContract):
    @pytest.fixture()
    def engine_case(self, served):
        model, tok, _, url = served
        return ENGINES.get("vllm")(model, tok, config=EngineConfig(kind="vllm", mode="server", url=url)), model, tok


class TestVLLMServerEngineLoRA(EngineContract):
    @pytest.fixture()
    def engine_case(self, served):
        model, tok, _, url = served
        model = add_adapter(model, LoraConfig(r=4, alpha=8.0))
        return ENGINES.get("vllm")(model, tok, config=EngineConfig(kind="vllm", mode="server", url=url)), model, tok


def test_weight_pushes_call_the_sync_endpoints(served):
    model, tok, fake, url = served
    cfg = EngineConfig(kind="vllm", mode="server", url=url)
    ENGINES.get("vllm")(model, tok, config=cfg).sync_weights(1)
    assert fake.calls == ["reload_weights", "reset_prefix_cache"]  # stale prefix-cache entries are dropped
    fake.calls.clear()
    lora = ENGINES.get("vllm")(add_adapter(model, LoraConfig(r=4, alpha=8.0)), tok, config=cfg)
    lora.sync_weights(1)
    assert fake.calls == ["load policy-0", "load policy-1", "unload policy-0"]
    assert sorted(fake.models) == sorted([fake.dir, "policy-1"])


def test_a_url_with_no_server_is_one_line_naming_engine_url():
    with pytest.raises(RuntimeError) as e:
        ENGINES.get("vllm")(None, None, config=EngineConfig(kind="vllm", mode="server", url="http://127.0.0.1:9"))
    assert str(e.value).startswith("engine.url=http://127.0.0.1:9") and "\n" not in str(e.value)


@pytest.fixture()
def fake_vllm(tmp_path, monkeypatch):
    """``fake_vllm(body)`` puts an executable ``vllm`` running ``body`` (shell) first on PATH; the engine's temp
    files (saved weights, server log) go under ``tmp_path``."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def put(body: str) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        exe = bin_dir / "vllm"
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    return put


@pytest.mark.parametrize("body,why", [("sleep 60", "not healthy after 2 s"),
                                      ("echo boom; exit 3", "exited with code 3")])
def test_a_server_that_does_not_come_up_is_one_line(tiny_policy, fake_vllm, body, why):
    model, tok = tiny_policy
    fake_vllm(body)
    cfg = EngineConfig(kind="vllm", mode="server", start_timeout=2.0, serve_args="--max-model-len 512")
    t0 = time.monotonic()
    with pytest.raises(RuntimeError) as e:
        ENGINES.get("vllm")(model, tok, config=cfg)
    msg = str(e.value)
    assert "\n" not in msg and why in msg and "`vllm serve " in msg and "--max-model-len 512" in msg
    log = Path(msg.split("(log: ")[1].split(")")[0])
    assert log.is_file() and (body.startswith("sleep") or log.read_text() == "boom\n")
    assert time.monotonic() - t0 < 30


def test_no_vllm_on_path_is_one_line(tiny_policy, tmp_path, monkeypatch):
    model, tok = tiny_policy
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="no `vllm` is on PATH") as e:
        ENGINES.get("vllm")(model, tok, config=EngineConfig(kind="vllm", mode="server"))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("lora", [True, pytest.param(False, marks=pytest.mark.slow)])  # ~12 s each (a subprocess)
def test_credo_starts_and_stops_the_server(tiny_policy, fake_vllm, lora):
    """Empty engine.url: credo runs `vllm serve DIR ...` (here the fake) with the weight-sync env, samples from it
    with processed log-probs, pushes an update, and terminates it on close."""
    model, tok = tiny_policy
    if lora:
        model = add_adapter(model, LoraConfig(r=4, alpha=8.0))
    fake_vllm(f'exec "{sys.executable}" "{FAKE}" "$@"')
    engine = ENGINES.get("vllm")(model, tok, config=EngineConfig(kind="vllm", mode="server", start_timeout=120))
    assert engine.process.poll() is None
    prompts = [tok("1 + 2 =")["input_ids"], tok("3 + 4 =")["input_ids"]]
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    engine.sync_weights(1)
    sampling = SamplingConfig(max_new_tokens=6, stop=[], temperature=0.7)
    trajs = engine.generate(prompts, 2, sampling, version=1)
    ref = trainer_logprobs(model, trajs, tok.pad_token_id, 0.7)
    assert max(float((t.logprobs - r).abs().max()) for t, r in zip(trajs, ref)) < 1e-4
    engine.server.reload_weights()  # the dev-mode endpoints are there (VLLM_SERVER_DEV_MODE=1)
    engine.close()
    assert engine.process.poll() is not None and not engine.weights_dir.exists()


def test_rl_steps_sample_from_the_pushed_weights(tmp_path):
    """GRPO through ``engine.mode=server``: each step's samples come from the weights of the step before (pushed
    after every update), so the trainer's and the engine's log-probs agree at every step while the policy moves."""
    import shutil

    from credo.config import load_config
    from credo.models import resolve_model_dir
    from credo.train.rl import RLTrainer

    cfg = load_config(None, [
        "train.steps=3", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4", "train.lr=3e-2",
        "model.hidden_size=32", "model.num_layers=1", "model.intermediate_size=64", "task.size=8",
        "task.eval_size=2", "eval.size=2", "eval.pass_k=0", "log.tensorboard=false", "log.progress=false",
        "log.report=false", "train.device=cpu", "engine.kind=vllm", "engine.mode=server",
        "engine.url=http://127.0.0.1:9", f"log.output_dir={tmp_path / 'run'}"])
    shutil.copytree(resolve_model_dir(cfg.model), tmp_path / "served")  # the server's copy, rewritten by each push
    fake = FakeVLLM(str(tmp_path / "served"), "processed_logprobs")
    cfg.engine.url, stop = serve_in_thread(build_app(fake))
    try:
        trainer = RLTrainer(cfg)
        score = trainer.score

        def parity(trajs, rows):  # a reward that differs within groups (the tiny model never solves the task)
            out = score(trajs, rows)
            for t in trajs:
                t.reward = float(int(t.response_ids[0]) % 2)
            return out

        trainer.score = parity
        steps = [trainer.train_step() for _ in range(3)]
    finally:
        stop()
    gaps = [m["rollout/logprob_diff_mean"] for m in steps]
    assert max(gaps) < 1e-4 and min(m["actor/grad_norm"] for m in steps) > 1e-3, steps  # agreement while learning
    assert fake.calls == ["reload_weights", "reset_prefix_cache"] * 3
