"""`credo rubric ...` end to end against a scripted server: the stages chain through files, a re-run makes no
call, bad pair files are one-line errors, and the saved config never holds the API key."""

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("openai")

from judge_helpers import Scripted, serving  # noqa: E402
from test_judge_pipeline import pipeline_client  # noqa: E402

from credo.cli import main  # noqa: E402
from credo.rewards.pairs import Pair, write_pairs  # noqa: E402

SECRET = "sk-cli-secret-987654321"


def test_rubric_cli_chain(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    pairs = write_pairs(tmp_path / "pairs.jsonl", [Pair("Name the capital of France.", "Paris", "Lyon"),
                                                    Pair("What is France's capital?", "It is Paris", "It is Lyon")])
    fake = pipeline_client({})
    with serving(__import__("credo.judge.server", fromlist=["build_app"]).build_app(fake)) as url:
        common = ["--endpoint", url, "--model", "fake", "--cache", str(tmp_path / "cache")]
        assert main(["rubric", "profile", "--pairs", str(pairs), "--out", str(tmp_path / "p"), *common]) == 0
        assert main(["rubric", "synthesize", "--in", str(tmp_path / "p/profiles.jsonl"), "--out",
                     str(tmp_path / "s"), *common]) == 0
        assert main(["rubric", "filter", "--in", str(tmp_path / "s/rubrics.jsonl"), "--out", str(tmp_path / "f"),
                     "--mode", "rejudge", *common]) == 0
        sent = len(fake.sent)
        assert sent == 4 + 2 + 2
        assert main(["rubric", "profile", "--pairs", str(pairs), "--out", str(tmp_path / "p2"), *common]) == 0
        assert len(fake.sent) == sent  # cached: no call
    kept = (tmp_path / "f/kept.jsonl").read_text().splitlines()
    sft = [json.loads(x) for x in (tmp_path / "f/sft.jsonl").read_text().splitlines()]
    assert len(kept) == 2 and len(sft) == 2 and set(sft[0]) == {"prompt", "completion"}
    summary = json.loads((tmp_path / "f/summary.json").read_text())
    assert summary["filter/kept"] == 2 and summary["filter/drop_rate"] == 0
    for d in ("p", "s", "f"):
        config = (tmp_path / d / "config.json").read_text()
        assert SECRET not in config and "OPENAI_API_KEY" in config
    assert SECRET not in capsys.readouterr().out


def test_rubric_eval_reports_probes(tmp_path):
    always_a = Scripted(lambda c: "Winner: A")
    pairs = write_pairs(tmp_path / "pairs.jsonl", [Pair(f"q{i}", "right", "wrong") for i in range(8)])
    with serving(__import__("credo.judge.server", fromlist=["build_app"]).build_app(always_a)) as url:
        assert main(["rubric", "eval", "--pairs", str(pairs), "--modes", "direct", "--endpoint", url, "--model", "a",
                     "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "e")]) == 0
    s = json.loads((tmp_path / "e/summary.json").read_text())["direct"]
    assert s["swap_consistency"] == {"count": 0, "total": 8, "rate": 0.0}
    assert s["iid"]["n"] == 8 and s["length_adversarial"]["n"] == 8 and s["format_adversarial"]["n"] == 8


def test_bad_pair_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": "a"}\n')
    rc = main(["rubric", "judge", "--pairs", str(bad), "--local", "embedded", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{bad}:2: missing key 'rejected'" in err and len(err.strip().splitlines()) == 1


def test_serve_is_a_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0 and "OpenAI" not in capsys.readouterr().err


def test_judge_reward_bad_kwargs_named():
    from credo.rewards.functions import make_entry
    from credo.tasks.base import RewardError

    with pytest.raises(RewardError, match="reward function 'judge' does not take kwargs"):
        make_entry({"name": "judge", "kwargs": {"bogus": 1}}, None, "reward.functions[0]")
