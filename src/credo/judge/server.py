"""``credo serve MODEL``: a local causal LM as an OpenAI-compatible chat endpoint (FastAPI + uvicorn).

Routes: ``GET /v1/models`` and ``POST /v1/chat/completions`` (non-streaming; ``n = 1``). Requests are answered one
at a time (the model is not thread-safe); the reply follows the OpenAI schema closely enough for the official client.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field

from credo.judge.clients import Sampling


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str = ""
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    seed: int | None = None
    stream: bool = False
    n: int = 1


def build_app(client: Any, default_max_tokens: int = 512):
    """A FastAPI app answering with ``client`` (any :class:`~credo.judge.clients.ChatClient`)."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="credo serve")
    lock = threading.Lock()

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": client.model, "object": "model", "owned_by": "credo"}]}

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest) -> dict:
        if req.stream or req.n != 1:
            raise HTTPException(400, "credo serve supports stream=false and n=1 only")
        sampling = Sampling(max_tokens=req.max_completion_tokens or req.max_tokens or default_max_tokens,
                            temperature=req.temperature, top_p=req.top_p, seed=req.seed or 0)
        messages = [m.model_dump() for m in req.messages]
        with lock:
            text = client.chat([messages], sampling)[0]
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": client.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    return app


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, device: str = "auto", batch_size: int = 1,
          max_tokens: int = 512) -> None:
    """Load ``model`` through credo's model loading and serve it until interrupted."""
    import uvicorn

    from credo.judge.hf import HFClient

    uvicorn.run(build_app(HFClient.load(model, device=device, batch_size=batch_size), max_tokens), host=host,
                port=port, log_level="warning")
