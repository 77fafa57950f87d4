"""The demo task (credo.tasks.reverse) through the callable-task adapter: rows, the sloppy teacher's SFT targets,
exact-match verification."""

import pytest

from credo.config import load_config
from credo.sft.trainer import sft_examples
from credo.tasks import build_task
from credo.tasks.base import TaskError
from credo.tasks.reverse import rows


def _task(kwargs='{"length": 3, "teacher_accuracy": 0.5}', size=400):
    cfg = load_config(None, ["task.kind=callable", "task.name=credo.tasks.reverse:rows", f"task.kwargs={kwargs}",
                             f"task.size={size}", "task.eval_size=50", "eval.size=50",
                             'task.prompt_template="Reverse {question}. Answer:"'])
    return build_task(cfg.task)


def test_rows_gold_is_the_reversed_word_and_the_teacher_is_right_about_half_the_time():
    task = _task()
    train, held = task.rows("train"), task.rows("eval")
    assert all(len(r["question"]) == 3 and r["answer"] == r["question"][::-1] for r in train + held)
    assert all(r["target"] == r["answer"] for r in held)  # held-out rows carry no sloppy targets
    right = sum(r["target"] == r["answer"] for r in train) / len(train)
    copied = [r for r in train if r["target"] != r["answer"]]
    assert 0.4 < right < 0.6 and all(r["target"] == r["question"] for r in copied)
    assert not {r["question"] for r in train} & {r["question"] for r in held}
    assert rows("train", 5, 3) == rows("train", 5, 3) != rows("train", 5, 4)


def test_sft_trains_on_the_teacher_target_while_the_verifier_checks_the_gold_answer():
    task = _task()
    copied = next(r for r in task.rows("train") if r["target"] != r["answer"])
    assert task.target(copied) == " " + copied["question"]
    assert task.verify(copied, " " + copied["question"]).score == 0.0  # the sloppy demonstration scores 0
    assert task.verify(copied, " " + copied["answer"]).score == 1.0

    class CharTok:
        eos_token_id = 0

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    ((prompt_ids, target_ids),) = sft_examples(CharTok(), task, [copied], chat_template=False)
    assert prompt_ids == [ord(c) for c in f"Reverse {copied['question']}. Answer:"]
    assert target_ids == [ord(c) for c in " " + copied["question"]] + [0]


def test_bad_kwargs_name_the_key():
    with pytest.raises(TaskError, match="task.kwargs.teacher_accuracy"):
        _task('{"teacher_accuracy": 1.5}').rows("train")
