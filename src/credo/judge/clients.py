"""Chat clients behind one interface, and the on-disk response cache.

A client answers a batch of chat conversations: ``client.chat(batch, sampling) -> list[str]`` with ``batch`` a list
of message lists (``[{"role": ..., "content": ...}, ...]``) and one reply text per conversation. ``client.model``
names the model (it is part of the cache key). Implementations: :class:`credo.judge.hf.HFClient` (a local causal
LM, batched) and :class:`credo.judge.openai_client.OpenAIClient` (any OpenAI-compatible endpoint).
:class:`CachedClient` wraps either with a cache keyed by (model, messages, sampling): a re-run makes no call.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

Messages = list[dict[str, str]]


class ClientError(RuntimeError):
    """A model endpoint that could not answer (names the endpoint and the last error)."""


@dataclass(frozen=True)
class Sampling:
    """Decoding settings: ``temperature = 0`` is greedy; ``seed`` is passed to endpoints that honour it."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"temperature must be >= 0 and top_p in (0, 1], got {self.temperature}, {self.top_p}")


class ChatClient(Protocol):
    model: str

    def chat(self, batch: list[Messages], sampling: Sampling) -> list[str]: ...


def user(text: str, system: str = "") -> Messages:
    """A one-turn conversation (with an optional system message)."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def cache_key(model: str, messages: Messages, sampling: Sampling) -> str:
    blob = json.dumps({"model": model, "messages": messages, "sampling": asdict(sampling)}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """One JSON file per key under ``root/<2 hex>/<key>.json``, written atomically (safe across threads)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))["text"]
        except (json.JSONDecodeError, KeyError, OSError):
            return None  # a torn or foreign file is a miss, rewritten on the next call

    def put(self, key: str, text: str, meta: dict[str, Any] | None = None) -> None:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"text": text, **(meta or {})}, f, ensure_ascii=False)
        os.replace(tmp, p)


class CachedClient:
    """``inner`` with a response cache: only the conversations not yet cached are sent (in one batch).
    ``calls`` counts conversations sent to ``inner``; ``hits`` those answered from the cache."""

    def __init__(self, inner: ChatClient, cache_dir: str | Path):
        self.inner, self.cache = inner, ResponseCache(cache_dir)
        self.model = inner.model
        self.calls = self.hits = 0

    def chat(self, batch: list[Messages], sampling: Sampling) -> list[str]:
        keys = [cache_key(self.model, m, sampling) for m in batch]
        out: list[str | None] = [self.cache.get(k) for k in keys]
        todo = [i for i, o in enumerate(out) if o is None]
        self.hits += len(batch) - len(todo)
        if todo:
            texts = self.inner.chat([batch[i] for i in todo], sampling)
            self.calls += len(todo)
            for i, t in zip(todo, texts):
                self.cache.put(keys[i], t, {"model": self.model})
                out[i] = t
        return [o for o in out if o is not None]
