"""Chat clients against real HTTP: `credo serve`'s app answers the official openai client; timeouts and 5xx are
retried then reported naming the endpoint; the API key never reaches logs, reprs or saved configs."""

import json
import logging
import time

import pytest

pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from judge_helpers import Scripted, serving  # noqa: E402

from credo.judge.clients import CachedClient, ClientError, Sampling, user  # noqa: E402
from credo.judge.openai_client import OpenAIClient  # noqa: E402
from credo.judge.server import build_app  # noqa: E402

SECRET = "sk-test-very-secret-0123456789"


def test_server_answers_the_real_openai_client(tiny_policy):
    import openai

    from credo.judge.hf import HFClient

    model, tok = tiny_policy
    local = HFClient(model, tok, name="embedded", batch_size=2)
    sampling = Sampling(max_tokens=6)
    expected = local.chat([user("hello there"), user("a longer question about numbers")], sampling)
    with serving(build_app(local)) as url:
        raw = openai.OpenAI(base_url=url, api_key="EMPTY").chat.completions.create(
            model="embedded", messages=[{"role": "user", "content": "hello there"}], max_tokens=6, temperature=0)
        assert raw.choices[0].message.content == expected[0]
        assert openai.OpenAI(base_url=url, api_key="EMPTY").models.list().data[0].id == "embedded"
        client = OpenAIClient("embedded", url, concurrency=2)
        assert client.chat([user("hello there"), user("a longer question about numbers")], sampling) == expected


def flaky_app(mode, hits):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        hits.append(request.headers.get("authorization", ""))
        if mode == "slow":
            import asyncio

            await asyncio.sleep(1.0)
        if mode == "ok_after_one" and len(hits) > 1:
            return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                                                                                   "content": "fine"}}]}
        return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)

    return app


@pytest.mark.parametrize("mode", ["5xx", "slow"])
def test_timeout_and_5xx_are_retried_then_reported(mode, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    hits = []
    with serving(flaky_app(mode, hits)) as url:
        client = OpenAIClient("m", url, timeout=0.3, max_retries=2, backoff=0.01)
        start = time.time()
        with caplog.at_level(logging.DEBUG), pytest.raises(ClientError) as e:
            client.chat([user("hi")], Sampling())
        assert time.time() - start < 8
    assert len(hits) == 3  # first try + 2 retries
    assert url in str(e.value) and "3 attempts failed" in str(e.value)
    assert ("Timeout" if mode == "slow" else "InternalServerError") in str(e.value)
    assert hits[0] == f"Bearer {SECRET}"  # the key was sent to the endpoint...
    logged = caplog.text + str(e.value) + repr(client) + json.dumps(client.describe())
    assert "attempt 1/3 failed" in caplog.text
    assert SECRET not in logged  # ...and appears nowhere else


def test_retry_then_success_and_key_not_saved(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("MY_KEY", SECRET)
    hits = []
    with serving(flaky_app("ok_after_one", hits)) as url:
        client = CachedClient(OpenAIClient("m", url, api_key_env="MY_KEY", backoff=0.01), tmp_path / "cache")
        with caplog.at_level(logging.DEBUG):
            assert client.chat([user("hi")], Sampling()) == ["fine"]
            assert client.chat([user("hi")], Sampling()) == ["fine"]
    assert len(hits) == 2 and client.calls == 1 and client.hits == 1
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "fine" in stored and SECRET not in stored and SECRET not in caplog.text


def test_a_4xx_is_not_retried():
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app, hits = FastAPI(), []

    @app.post("/v1/chat/completions")
    def chat():
        hits.append(1)
        return JSONResponse({"error": {"message": "bad model"}}, status_code=404)

    with serving(app) as url, pytest.raises(ClientError, match=f"{url}.*HTTP 404"):
        OpenAIClient("m", url, backoff=0.01).chat([user("hi")], Sampling())
    assert len(hits) == 1


def test_judge_reward_through_the_registry(tmp_path):
    from credo.rewards.functions import REWARD_FUNCTIONS

    def script(conv):
        text = conv[-1]["content"]
        a = text.split("Response A:\n")[1].split("Response B:")[0]
        return "Winner: " + ("A" if "42" in a else "B")

    judge = Scripted(script, model="judge")
    with serving(build_app(judge)) as url:
        fn = REWARD_FUNCTIONS.get("judge")(None, model="judge", base_url=url, cache_dir=str(tmp_path))
        out = fn(["q?", "q?"], ["it is 42", "it is 7"], answer=["the answer is 42", "the answer is 42"])
        # 42 vs 42: A wins both orders -> 0.5; 7 vs 42: loses both -> 0
        assert out == [0.5, 0.0]
        sent = len(judge.sent)
        assert fn(["q?", "q?"], ["it is 42", "it is 7"], answer=["the answer is 42"] * 2) == out
        assert len(judge.sent) == sent == 4  # batched, then all from the cache


def test_pointwise_rubric_reward():
    from credo.judge.reward import JudgeReward

    judge = Scripted(lambda c: "R1: pass\nR2: fail\nR3: pass" if "good" in c[-1]["content"] else "garbage")
    fn = JudgeReward(judge, mode="rubric")
    assert fn(["q", "q"], ["good", "bad"], rubric=[["a", "b", "c"], ["a", "b", "c"]]) == pytest.approx([2 / 3, 0.0])
    with pytest.raises(ValueError, match="rubric"):
        fn(["q"], ["x"], answer=["y"])
