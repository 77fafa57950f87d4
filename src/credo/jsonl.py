"""Bounded, streaming reading of JSONL / text files: one line at a time, a byte cap per line and a cap on rows.

A line longer than ``MAX_LINE_BYTES`` or a file with more than ``MAX_ROWS`` rows raises the caller's error class
naming the limit and ``file:line``, before the line is decoded or parsed; so do bytes that are not UTF-8 and invalid
or too deeply nested JSON. The limits are module constants (raise them for unusual data).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_ROWS = 10_000_000


def read_lines(path: str | Path, error: type[Exception] = ValueError, max_line_bytes: int | None = None,
               max_rows: int | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line of a UTF-8 file (1-based, newline stripped), streamed."""
    cap = MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    rows_cap = MAX_ROWS if max_rows is None else max_rows
    path = Path(path)
    rows = 0
    with open(path, "rb") as f:
        for i in range(1, 1 << 62):
            raw = f.readline(cap + 1)
            if not raw:
                return
            if len(raw) > cap and not (len(raw) == cap + 1 and raw.endswith(b"\n")):
                raise error(f"{path}:{i}: line longer than {cap} bytes (limit credo.jsonl.MAX_LINE_BYTES)")
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{i}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})") from e
            if not text.strip():
                continue
            rows += 1
            if rows > rows_cap:
                raise error(f"{path}:{i}: more than {rows_cap} rows (limit credo.jsonl.MAX_ROWS)")
            yield i, text


def read_jsonl(path: str | Path, error: type[Exception] = ValueError, max_line_bytes: int | None = None,
               max_rows: int | None = None) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON value)`` of every non-blank line, streamed with the limits of :func:`read_lines`."""
    for i, text in read_lines(path, error, max_line_bytes, max_rows):
        try:
            yield i, json.loads(text)
        except json.JSONDecodeError as e:
            raise error(f"{path}:{i}: invalid JSON ({e.msg} at column {e.colno})") from e
        except RecursionError as e:
            raise error(f"{path}:{i}: JSON nested too deeply") from e
