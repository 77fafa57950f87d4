"""Answer extraction: a model's response text -> the answer string the verifier compares with the gold answer.

Registry ``EXTRACTORS`` (selected by ``task.extract``), one signature: ``fn(response, prompt, marker) -> str``
(empty string = no answer found). ``prompt`` and ``marker`` are only read by ``marker``.

- ``marker``: text after the last ``task.answer_marker`` in prompt + response, first line (base models that
  continue "... Answer:").
- ``boxed``: the content of the last ``\\boxed{...}`` (nested braces allowed).
- ``hash``: the first line after the last ``####`` (GSM8K style).
- ``answer_is``: what follows the last "the (final) answer is" (case-insensitive, optional ":" and markdown bold).
- ``last_number``: the last number in the response (``-1,234.5``, ``3/4``).
- ``math_verify``: math-verify's own extraction over the whole response (LaTeX and plain expressions).
- ``auto``: boxed, then ``####``, then "the answer is", then the last number: the first that finds something.
"""

from __future__ import annotations

import re

from credo.registry import Registry

# fn(response: str, prompt: str, marker: str) -> str
EXTRACTORS = Registry("answer extractor", "fn(response: str, prompt: str, marker: str) -> str")

_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?")
_ANSWER_IS = re.compile(r"the\s+(?:final\s+)?answer\s+is\s*(?:\*\*)?\s*:?\s*(?:\*\*)?", re.IGNORECASE)


def tidy(text: str) -> str:
    """Strip whitespace, markdown bold, surrounding ``$`` and one trailing period from an extracted answer."""
    text = text.strip().replace("**", "").strip()
    if len(text) > 1 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    return text[:-1].rstrip() if text.endswith(".") else text


@EXTRACTORS.register("marker")
def marker_answer(response: str, prompt: str = "", marker: str = "") -> str:
    """The text after the last ``marker`` in ``prompt + response`` (the whole response if the marker is empty or
    absent), stripped and cut at the first newline."""
    text = prompt + response
    text = text.rsplit(marker, 1)[1] if marker and marker in text else response
    return text.strip().split("\n", 1)[0].strip()


def last_boxed(text: str) -> str | None:
    """Content of the last closed ``\\boxed{...}`` (or ``\\fbox{...}``), nested braces allowed; None if there is
    none (a box cut off by the length limit does not count)."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\{", text)]
    for i in reversed(starts):
        depth = 1
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i:j].strip()
    return None


@EXTRACTORS.register("boxed")
def boxed_answer(response: str, prompt: str = "", marker: str = "") -> str:
    return last_boxed(response) or ""


@EXTRACTORS.register("hash")
def hash_answer(response: str, prompt: str = "", marker: str = "") -> str:
    if "####" not in response:
        return ""
    return tidy(response.rsplit("####", 1)[1].strip().split("\n", 1)[0])


@EXTRACTORS.register("answer_is")
def answer_is(response: str, prompt: str = "", marker: str = "") -> str:
    hits = list(_ANSWER_IS.finditer(response))
    if not hits:
        return ""
    rest = response[hits[-1].end():].strip().split("\n", 1)[0]
    boxed = last_boxed(rest)
    return tidy(boxed if boxed is not None else rest)


@EXTRACTORS.register("last_number")
def last_number(response: str, prompt: str = "", marker: str = "") -> str:
    hits = _NUMBER.findall(response)
    return hits[-1] if hits else ""


@EXTRACTORS.register("math_verify")
def math_verify_answer(response: str, prompt: str = "", marker: str = "") -> str:
    """math-verify's extraction (LaTeX boxed/inline math, then plain expressions) over the whole response: the
    matched string, which the verifier parses again. Main thread only has parsing timeouts (signal.alarm)."""
    import threading

    from math_verify import parse

    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        found = parse(response, parsing_timeout=timeout)
    except Exception:  # noqa: BLE001 - unparseable model output is simply no answer
        return ""
    return str(found[-1]).strip() if found else ""


@EXTRACTORS.register("auto")
def auto_answer(response: str, prompt: str = "", marker: str = "") -> str:
    for fn in (boxed_answer, hash_answer, answer_is, last_number):
        out = fn(response)
        if out:
            return out
    return ""
