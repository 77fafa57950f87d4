"""Test helpers for the judge package: a scripted chat client and a uvicorn server on a free loopback port."""

import contextlib
import socket
import threading
import time


class Scripted:
    """A chat client whose reply is ``script(conversation)``; ``sent`` records every conversation it answered."""

    def __init__(self, script, model="fake"):
        self.script, self.model, self.sent = script, model, []

    def chat(self, batch, sampling):
        self.sent += batch
        return [self.script(m) for m in batch]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app):
    """Run a FastAPI app on 127.0.0.1:<free port>; yields the base URL ``http://127.0.0.1:<port>/v1``."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
