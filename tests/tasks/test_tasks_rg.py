import json
import pickle

import pytest

from credo.config import TaskConfig
from credo.tasks import TASKS, TaskError, build_task, extract_answer
from credo.tasks.reasoning_gym import ReasoningGymTask

TINY = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


def chain(**kw):
    kw = {"kind": "reasoning_gym", "name": "chain_sum", "size": 300, "eval_size": 100, "seed": 3, **kw}
    return build_task(TaskConfig(**kw))


def questions(rows):
    return [r["question"] for r in rows]


def test_registry_has_builtin_kinds():
    assert {"reasoning_gym", "math_file", "callable"} <= set(TASKS.names())
    with pytest.raises(KeyError, match="unknown task"):
        build_task(TaskConfig(kind="reasoning_gmy"))


def test_chain_sum_gold_scores_one_and_wrong_scores_zero():
    task = chain()
    assert isinstance(task, ReasoningGymTask) and task.name == "chain_sum"
    for row in task.rows("eval")[:40] + task.rows("train")[:40]:
        assert task.target(row) == " " + row["answer"]
        v = task.verify(row, task.target(row))
        assert v.score == 1.0, (row, v)
        assert v.details == {"extracted": row["answer"], "gold": row["answer"]}
        wrong = task.verify(row, f" {int(row['answer']) + 1}")
        assert wrong.score == 0.0 and wrong.details["extracted"] == str(int(row["answer"]) + 1)


def test_chain_sum_splits_sizes_disjoint_deterministic():
    a, b, c = chain(), chain(), chain(seed=4)
    tr, ev = a.rows("train"), a.rows("eval")
    assert len(tr) == 300 and len(ev) == 100
    assert len(set(questions(ev))) == 100
    assert not set(questions(tr)) & set(questions(ev))
    assert a.rows("train") == b.rows("train") and a.rows("eval") == b.rows("eval")
    assert questions(c.rows("train")) != questions(tr)
    with pytest.raises(TaskError, match="unknown split"):
        a.rows("test")


def test_tiny_question_space_stays_disjoint():
    task = chain(kwargs=TINY, size=200, eval_size=60)
    tr, ev = task.rows("train"), task.rows("eval")
    assert len(tr) == 200 and len(ev) == 60 == len(set(questions(ev)))
    assert not set(questions(tr)) & set(questions(ev))
    with pytest.raises(TaskError, match="too small"):
        chain(kwargs=TINY, size=10, eval_size=5000).rows("eval")


def test_entry_is_json_and_pickle_serialisable():
    task = chain(size=5, eval_size=5)
    row = task.rows("eval")[0]
    assert row["entry"]["metadata"]["source_dataset"] == "chain_sum"
    for back in (json.loads(json.dumps(row)), pickle.loads(pickle.dumps(row))):
        assert task.verify(back, " " + row["answer"]).score == 1.0


def test_answer_marker_extraction_and_garbage():
    task = chain(size=5, eval_size=5)
    row = task.rows("eval")[0]
    gold = row["answer"]
    assert task.prompt(row) == row["question"] + " Answer:"
    assert task.verify(row, f" 999\nAnswer: {gold}\nmore text").score == 1.0  # last marker wins, first line
    assert task.verify(row, f" {gold} Answer: 999").score == 0.0
    for junk in ["", "\x00\U0001f4a5" * 50, "Answer:", None, " nan"]:
        v = task.verify(row, junk)
        assert v.score == 0.0
    assert extract_answer("  42 \n 7", "") == "42"
    assert extract_answer(" so 42", "####", prompt="Q?") == "so 42"  # marker absent: whole response
    assert extract_answer(" x #### 42", "####", prompt="Q?") == "42"


def test_second_dataset_basic_arithmetic():
    task = build_task(TaskConfig(kind="reasoning_gym", name="basic_arithmetic", kwargs={}, size=20, eval_size=10))
    tr, ev = task.rows("train"), task.rows("eval")
    assert len(tr) == 20 and len(ev) == 10 and not set(questions(tr)) & set(questions(ev))
    for row in ev:
        assert task.verify(row, task.target(row)).score == 1.0
        assert task.verify(row, " banana").score == 0.0


def test_bad_dataset_name_and_kwargs():
    with pytest.raises(TaskError, match="did you mean 'chain_sum'"):
        chain(name="chain_sun")
    with pytest.raises(TaskError, match="task.seed"):
        chain(kwargs={"seed": 1})
    with pytest.raises(TaskError, match="rejected kwargs"):
        chain(kwargs={"no_such_option": 1})
