"""task.kind=dataset: local files that datasets reads (JSONL, Parquet, CSV, a save_to_disk directory) and in-memory
data, in standard and conversational format; chat templates applied token-in/token-out."""

import json

import datasets
import pytest

from credo.config import TaskConfig
from credo.tasks import TaskError, build_task, encode_task_prompt

STANDARD = [{"prompt": f"What is {i} + {i}?", "answer": 2 * i, "level": i % 3} for i in range(12)]
CONVO = [{"messages": [{"role": "system", "content": "You add numbers."},
                       {"role": "user", "content": f"What is {i} + 1?"},
                       {"role": "assistant", "content": f"{i + 1}"}],
          "answer": str(i + 1)} for i in range(12)]


def cfg(path="", **kw):
    return TaskConfig(**{"kind": "dataset", "path": str(path), "size": 100, "eval_size": 3, "seed": 1,
                         "prompt_template": "{question}", **kw})


def write(tmp_path, rows, fmt):
    ds = datasets.Dataset.from_list(rows)
    if fmt == "jsonl":
        path = tmp_path / "data.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        path = tmp_path / "data.parquet"
        ds.to_parquet(str(path))
    elif fmt == "csv":
        path = tmp_path / "data.csv"
        ds.to_csv(str(path), index=False)
    else:
        path = tmp_path / "saved"
        datasets.DatasetDict({"train": ds}).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv", "saved"])
def test_standard_format_from_every_local_source(tmp_path, fmt):
    task = build_task(cfg(write(tmp_path, STANDARD, fmt)))
    train, held = task.rows("train"), task.rows("eval")
    assert len(held) == 3 and len(train) == 9
    assert not {r["question"] for r in train} & {r["question"] for r in held}
    assert sorted(r["question"] for r in train + held) == sorted(r["prompt"] for r in STANDARD)
    row = held[0]
    n = int(row["question"].split()[2])
    assert row["answer"] == str(2 * n) and row["level"] == n % 3  # other columns kept
    assert task.prompt(row) == f"What is {n} + {n}?" and task.messages(row) is None
    assert task.verify(row, f" {2 * n}").score == 1.0 and task.verify(row, f" {2 * n + 1}").score == 0.0
    assert task.target(row) == f" {2 * n}"
    assert build_task(cfg(write(tmp_path, STANDARD, fmt))).rows("eval") == held  # fixed by task.seed


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "saved"])
def test_conversational_format_keeps_the_system_prompt(tmp_path, fmt):
    task = build_task(cfg(write(tmp_path, CONVO, fmt), prompt_template="{question} Answer briefly."))
    row = task.rows("eval")[0]
    n = int(row["question"].split()[2])
    assert task.messages(row) == [{"role": "system", "content": "You add numbers."},
                                  {"role": "user", "content": f"What is {n} + 1? Answer briefly."}]
    assert row["completion"] == str(n + 1)  # the trailing assistant turn is not part of the prompt
    assert task.verify(row, f" {n + 1}").score == 1.0


def test_prompt_column_as_a_conversation_and_question_field_fallback():
    rows = [{"prompt": [{"role": "user", "content": f"say {i}"}], "solution": f"{i}"} for i in range(6)]
    task = build_task(cfg(answer_field="solution"), data=rows)
    row = task.rows("train")[0]
    assert task.messages(row) == [{"role": "user", "content": row["question"]}] and row["answer"] == row["solution"]
    qa = [{"q": f"{i} + 0 =", "a": i} for i in range(6)]
    task = build_task(cfg(question_field="q", answer_field="a", prompt_template="{question} Answer:"), data=qa)
    row = task.rows("eval")[0]
    assert task.prompt(row) == row["q"] + " Answer:" and task.verify(row, f" {row['a']}").score == 1.0


def test_in_memory_dataset_dict_with_eval_split_and_eval_file(tmp_path):
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(STANDARD[:8]),
                               "test": datasets.Dataset.from_list(STANDARD[8:])})
    task = build_task(cfg(eval_split="test"), data=dd)
    assert [r["question"] for r in task.rows("eval")] == [r["prompt"] for r in STANDARD[8:11]]
    assert len(task.rows("train")) == 8
    assert len(build_task(cfg(), data=dd["train"]).rows("train")) == 5  # a Dataset: eval rows held out of it
    eval_file = write(tmp_path, STANDARD[:2] + [{"prompt": "new?", "answer": 1, "level": 0}], "jsonl")
    task = build_task(cfg(eval_path=str(eval_file)), data=STANDARD[:6])
    assert [r["question"] for r in task.rows("eval")] == ["What is 0 + 0?", "What is 1 + 1?", "new?"]
    assert [r["question"] for r in task.rows("train")] == [r["prompt"] for r in STANDARD[2:6]]  # no overlap


def test_rows_without_gold_answers(tmp_path):
    rows = [{"prompt": f"Write about {w}."} for w in ["cats", "dogs", "owls", "bees", "eels"]]
    task = build_task(cfg(eval_size=1), data=rows)
    assert task.has_answers is False and all(r["answer"] is None for r in task.rows("train"))
    with pytest.raises(TaskError, match="has no gold answer for row 'Write about"):
        task.verify(task.rows("train")[0], "x")


@pytest.mark.parametrize(
    "rows,message",
    [
        ([{"text": "hi", "answer": 1}] * 5, r"row 0: needs a 'prompt' string, a 'messages' list or a 'question'"),
        ([{"prompt": "", "answer": 1}] * 5, "row 0: needs a 'prompt' string"),
        ([{"messages": [{"role": "robot", "content": "x"}], "answer": 1}] * 5, r"messages\[0\] must be"),
        ([{"messages": [{"role": "system", "content": "x"}], "answer": 1}] * 5, "has no user message"),
        ([{"prompt": "a", "answer": 1}, {"prompt": "b", "answer": None}] * 3, "row 1: missing gold answer 'answer'"),
        ([{"prompt": "a", "answer": [1]}] * 5, "field 'answer' must be a string or a number"),
        ("not rows", "expected a datasets.Dataset, DatasetDict or list of dicts"),
    ],
)
def test_bad_rows_name_the_row(rows, message):
    with pytest.raises(TaskError, match=message):
        build_task(cfg(), data=rows)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(TaskError, match="dataset not found"):
        build_task(cfg(tmp_path / "nope.jsonl"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(TaskError, match="cannot tell the format from the suffix '.txt'"):
        build_task(cfg(tmp_path / "x.txt"))
    (tmp_path / "broken.jsonl").write_text('{"prompt": "a", "answer": 1}\n{"prompt": \n')
    with pytest.raises(TaskError, match="broken.jsonl: datasets could not read it"):
        build_task(cfg(tmp_path / "broken.jsonl"))
    with pytest.raises(TaskError, match=r"no split 'validation'; splits: \['train'\]"):
        build_task(cfg(write(tmp_path, STANDARD, "jsonl"), eval_split="validation"))
    with pytest.raises(TaskError, match="needs task.path"):
        build_task(cfg())
    with pytest.raises(TaskError, match="does not take in-memory data"):
        build_task(TaskConfig(), data=STANDARD)


TEMPLATE = ("{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}[assistant]{% endif %}")


def test_chat_template_applied_token_in_token_out(tiny_policy):
    _, tok = tiny_policy
    task = build_task(cfg(), data=CONVO)
    row = task.rows("eval")[0]
    q = row["question"]
    plain = encode_task_prompt(tok, task, row, chat_template=True)  # the embedded tokenizer has no template
    assert tok.decode(plain, skip_special_tokens=True) == f"You add numbers.\n\n{q}"
    tok.chat_template = TEMPLATE
    ids = encode_task_prompt(tok, task, row, chat_template=True)
    assert tok.decode(ids, skip_special_tokens=True) == f"[system]You add numbers.\n[user]{q}\n[assistant]"
    assert ids == tok.apply_chat_template(task.messages(row), add_generation_prompt=True, tokenize=True,
                                          return_dict=False)
    assert encode_task_prompt(tok, task, row, chat_template=False) == plain  # switched off: no template
    std = build_task(cfg(), data=STANDARD)
    srow = std.rows("eval")[0]
    got = tok.decode(encode_task_prompt(tok, std, srow, chat_template=True), skip_special_tokens=True)
    assert got == f"[user]{srow['question']}\n[assistant]"  # standard rows: one user message
