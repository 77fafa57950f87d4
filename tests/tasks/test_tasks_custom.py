from pathlib import Path

import pytest

from credo.config import TaskConfig
from credo.tasks import TaskError, build_task

HERE = str(Path(__file__).parent)


@pytest.fixture(autouse=True)
def _helpers_on_path(monkeypatch):
    monkeypatch.syspath_prepend(HERE)


def cfg(name, **kw):
    return TaskConfig(kind="callable", name=name, **{"kwargs": {}, "size": 50, "eval_size": 10, "seed": 7, **kw})


def test_callable_rows_and_verify_hook():
    task = build_task(cfg("tasks_callable_helper:rows", kwargs={"offset": 100}))
    tr, ev = task.rows("train"), task.rows("eval")
    assert len(ev) == 10 and 40 <= len(tr) <= 50
    assert not {r["question"] for r in tr} & {r["question"] for r in ev}
    assert build_task(cfg("tasks_callable_helper:rows", kwargs={"offset": 100})).rows("train") == tr
    row = ev[0]
    gold = row["a"] + int(row["question"].split()[2]) + 100
    assert row["answer"] == str(gold) and row["question"].endswith("+ 100 =")
    assert task.target(row) == f" {gold}"
    assert task.verify(row, task.target(row)).score == 1.0
    half = task.verify(row, f" {gold + 1}")
    assert half.score == 0.5 and half.details["diff"] == 1 and half.details["extracted"] == str(gold + 1)
    junk = task.verify(row, " lots of junk")
    assert junk.score == 0.0 and junk.details["why"] == "not an integer"


def test_callable_exact_match_and_dedup():
    task = build_task(cfg("tasks_callable_plain:words", size=10, eval_size=4))
    ev, tr = task.rows("eval"), task.rows("train")
    assert [r["answer"] for r in ev] == ["tac", "god", "ume", "xof"]
    assert [r["answer"] for r in tr] == ["ung", "neh", "lwo", "gip", "tar", "kay"]  # "fox" is held out
    assert task.verify(ev[0], " tac").score == 1.0
    assert task.verify(ev[0], " TAC").score == 0.0


@pytest.mark.parametrize(
    "name,match",
    [
        ("no_such_module_xyz:rows", "cannot import module 'no_such_module_xyz'"),
        ("tasks_callable_plain:missing", "has no callable 'missing'"),
        ("tasks_callable_plain:not_callable", "has no callable 'not_callable'"),
        ("tasks_callable_plain", "must be an import path"),
    ],
)
def test_bad_import_paths(name, match):
    with pytest.raises(TaskError, match=match):
        build_task(cfg(name))


def test_bad_rows_and_generator_errors():
    with pytest.raises(TaskError, match=r"eval row 0\): missing field 'answer'"):
        build_task(cfg("tasks_callable_plain:no_answer")).rows("eval")
    with pytest.raises(TaskError, match="generator exploded"):
        build_task(cfg("tasks_callable_plain:broken")).rows("train")
    with pytest.raises(TaskError, match="raised TypeError"):
        build_task(cfg("tasks_callable_plain:words", kwargs={"bogus": 1})).rows("train")
