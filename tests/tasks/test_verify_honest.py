"""A verifier bug is an error naming the task and the row; garbage model output still scores 0.

Before: BaseTask.verify clamped inf to 1.0 (held-out accuracy 1.0) and turned NaN, None, a string, a tuple or an
exception into 0 without a word; "1.0" (a string) was parsed into 1.0.
"""

from pathlib import Path

import pytest

from credo.config import TaskConfig, load_config
from credo.tasks import RewardError, build_task
from credo.train.rl import RLTrainer

HERE = str(Path(__file__).parent)


@pytest.fixture(autouse=True)
def _helpers_on_path(monkeypatch):
    monkeypatch.syspath_prepend(HERE)


def task(bad):
    return build_task(TaskConfig(kind="callable", name="tasks_bad_verify:rows", kwargs={"bad": bad}, size=6,
                                 eval_size=2))


@pytest.mark.parametrize(
    "bad,message",
    [
        ("inf", "returned inf, expected a finite number"),  # was 1.0
        ("nan", "returned nan, expected a finite number"),  # was 0.0
        ("none", "returned NoneType None"),  # was 0.0
        ("str", "returned str '1.0'"),  # was parsed to 1.0
        ("tuple", r"returned the tuple \(1.0, 2.0, 3.0\)"),  # was 0.0
        ("pair_no_dict", r"returned the tuple \(1.0, 'why'\)"),  # was 0.0
        ("raise", r"raised ZeroDivisionError\('verifier bug'\)"),  # was 0.0
        ("big", r"returned 1.5, outside \[0.0, 1.0\]"),  # was clamped to 1.0
        ("negative", r"returned -0.5, outside \[0.0, 1.0\]"),  # was clamped to 0.0
    ],
)
def test_verifier_bugs_raise_naming_task_and_row(bad, message):
    t = task(bad)
    row = t.rows("eval")[0]
    with pytest.raises(RewardError, match=message) as e:
        t.verify(row, " 1")
    assert "task 'tasks_bad_verify:rows' verify on row 'eval question 0 ='" in str(e.value)


def test_good_verifier_values_pass_through():
    assert task("ok").verify(task("ok").rows("eval")[0], " 1").score == 1.0
    assert task("numpy").verify(task("numpy").rows("eval")[0], " 1").score == 0.5


def test_garbage_model_output_still_scores_zero_for_builtin_scorers(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("".join(f'{{"question": "q{i}", "answer": {i}}}\n' for i in range(5)))
    t = build_task(TaskConfig(kind="math_file", path=str(path), eval_size=1, size=4))
    row = {"question": "q3", "answer": "3"}
    for junk in ["", " \\frac{", " ))((", " \x00\x01", " " + "9" * 5000, " NaN", " inf"]:
        assert t.verify(row, junk).score == 0.0
    rg = build_task(TaskConfig(size=4, eval_size=2))
    assert rg.verify(rg.rows("eval")[0], " not a number at all").score == 0.0


def test_inf_verifier_stops_training_with_the_row_named(tmp_path):
    """Before: a verifier returning inf trained on reward 1.0 and reported eval accuracy 1.0."""
    cfg = load_config(None, ["task.kind=callable", "task.name=tasks_bad_verify:rows", "task.kwargs={bad: inf}",
                             "task.size=8", "task.eval_size=2", "model.hidden_size=32", "model.num_layers=1",
                             "model.num_heads=2", "model.intermediate_size=64", "sampling.n=2",
                             "sampling.max_new_tokens=3", "train.prompts_per_step=2", "log.tensorboard=false",
                             "log.progress=false", "eval.pass_k=0", "eval.size=2", f"log.output_dir={tmp_path}"])
    trainer = RLTrainer(cfg)
    with pytest.raises(RewardError, match=r"verify on row 'train question \d+ =' returned inf"):
        trainer.train_step()
    with pytest.raises(RewardError, match=r"verify on row 'eval question \d+ =' returned inf"):
        trainer.evaluate()
