"""Any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp server, hosted providers) through the ``openai``
client: the API key comes from an environment variable and is never logged or stored; each request has a timeout;
timeouts, connection errors, 429 and 5xx answers are retried with exponential backoff and then reported as a
:class:`~credo.judge.clients.ClientError` naming the endpoint; at most ``concurrency`` requests run at once."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from credo.judge.clients import ClientError, Messages, Sampling

log = logging.getLogger(__name__)
NO_KEY = "EMPTY"  # local servers accept any key; the openai client refuses to start without one


class OpenAIClient:
    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_retries: int = 3, backoff: float = 1.0, concurrency: int = 4):
        import openai

        if max_retries < 0 or concurrency < 1 or timeout <= 0:
            raise ValueError("max_retries must be >= 0, concurrency >= 1 and timeout > 0")
        self.model, self.base_url, self.api_key_env = model, base_url, api_key_env
        self.max_retries, self.backoff, self.concurrency = max_retries, backoff, concurrency
        # the key is handed to the client object only; this object keeps the variable's name, never its value
        self._client = openai.OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or NO_KEY,
                                     timeout=timeout, max_retries=0)
        self._retryable = (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError,
                           openai.RateLimitError)
        self._status_error = openai.APIStatusError

    def __repr__(self) -> str:
        return f"OpenAIClient(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    def describe(self) -> dict:
        """What a run may save about this client (no key)."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env}

    def one(self, messages: Messages, sampling: Sampling) -> str:
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                r = self._client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=sampling.max_tokens,
                    temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed)
                return r.choices[0].message.content or ""
            except self._retryable as e:
                last = e
                log.warning("%s: attempt %d/%d failed: %s", self.base_url, attempt + 1, self.max_retries + 1,
                            type(e).__name__)
            except self._status_error as e:  # 4xx other than 429: retrying cannot help
                raise ClientError(f"{self.base_url} (model {self.model!r}) refused the request: "
                                  f"HTTP {e.status_code}") from e
        raise ClientError(f"{self.base_url} (model {self.model!r}): {self.max_retries + 1} attempts failed, last: "
                          f"{type(last).__name__}: {str(last)[:200]}") from last

    def chat(self, batch: list[Messages], sampling: Sampling) -> list[str]:
        if len(batch) <= 1 or self.concurrency == 1:
            return [self.one(m, sampling) for m in batch]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batch))) as pool:
            return list(pool.map(lambda m: self.one(m, sampling), batch))
