"""CDRRM pipeline with a scripted client: schema validation, bounded retries, the cache, label redaction, the
consistency filter (both modes, instruction-level drop), SFT rows, judging and the bias-probe arithmetic."""

import json

import pytest
from judge_helpers import Scripted

from credo.judge.clients import CachedClient, Sampling, cache_key, user
from credo.judge.extract import ParseError, ask_json, extract_json, parse_winner, validate
from credo.judge.judging import evaluate, place
from credo.judge.pipeline import filter_rubrics, order_pairs, profile, sft_rows, synthesize
from credo.judge.probes import Rate, flip_rate, format_adversarial, length_adversarial, swap_consistency
from credo.judge.schemas import Profile, Rubric
from credo.rewards.pairs import Pair

PROFILE_OK = {"criteria_candidates": ["Factual Accuracy"], "findings": [
    {"criterion": "Factual Accuracy", "status": "pass", "severity": 0, "claim": "states the capital",
     "evidence": "Paris", "instruction_anchor": "name the capital"}]}
PROFILE_FAIL = {"criteria_candidates": ["Factual Accuracy"], "findings": [
    {"criterion": "Factual Accuracy", "status": "fail", "severity": 3, "claim": "wrong capital",
     "evidence": "Lyon", "instruction_anchor": "name the capital"}]}


def rubric_json(predicts):
    return {"hard_rules": [{"rule_id": "R1", "type": "MUST", "criterion": "names the correct capital",
                            "test": "the capital named is right"}],
            "pair_consistency_check": {"expected_winner": "unknown", "rubric_predicts": predicts}}


def test_schema_rejects_a_failure_without_evidence():
    bad = json.loads(json.dumps(PROFILE_FAIL))
    bad["findings"][0]["evidence"] = ""
    with pytest.raises(ParseError, match="findings.0.*needs quoted evidence"):
        validate(json.dumps(bad), Profile)
    with pytest.raises(ParseError, match="severity"):
        validate(json.dumps({"findings": [{**PROFILE_OK["findings"][0], "severity": 7}]}), Profile)
    assert validate("Sure!\n```json\n" + json.dumps(rubric_json("A")) + "\n```", Rubric).hard_rules[0].type == "must"


def test_extract_json_and_winner():
    assert extract_json('noise {"a": {"b": 1}} tail {"c": 2}') == {"a": {"b": 1}}
    with pytest.raises(ParseError):
        extract_json("no object here")
    assert parse_winner("analysis...\n--- Final Judgment ---\nWinner: Response B") == "B"
    assert parse_winner("Winner: A ... on reflection Winner: **B**") == "B"
    assert parse_winner("I prefer the first one") is None


def test_bounded_retry_on_malformed_json():
    # prompt "good": malformed once, then valid; prompt "bad": never valid
    def script(conv):
        if conv[0]["content"] == "good":
            return "{oops" if len(conv) == 1 else json.dumps(PROFILE_OK)
        return "not json at all"

    client = Scripted(script)
    out, stats = ask_json(client, ["good", "bad"], Profile, retries=2)
    assert isinstance(out[0], Profile) and out[1] is None
    # good: 2 calls; bad: 1 + 2 retries = 3 calls
    assert (stats.calls, stats.failed, stats.retried, stats.requests) == (5, 1, 2, 2)
    assert stats.failure_rate == 0.5
    retry_turn = [c for c in client.sent if len(c) == 3][0]
    assert retry_turn[1]["content"] == "{oops" and "not valid" in retry_turn[2]["content"]
    _, stats0 = ask_json(Scripted(lambda c: "nope"), ["x"], Profile, retries=0)
    assert (stats0.calls, stats0.failed) == (1, 1)


def test_cache_second_run_makes_no_call(tmp_path):
    inner = Scripted(lambda c: "reply to " + c[-1]["content"])
    batch = [user("one"), user("two")]
    first = CachedClient(inner, tmp_path).chat(batch, Sampling())
    again = CachedClient(inner, tmp_path)  # a fresh process reading the same cache directory
    assert again.chat(batch, Sampling()) == first == ["reply to one", "reply to two"]
    assert len(inner.sent) == 2 and (again.calls, again.hits) == (0, 2)
    again.chat([user("two"), user("three")], Sampling())
    assert [c[-1]["content"] for c in inner.sent] == ["one", "two", "three"]
    # the key covers model, messages and sampling
    keys = {cache_key("m", user("a"), Sampling()), cache_key("m2", user("a"), Sampling()),
            cache_key("m", user("b"), Sampling()), cache_key("m", user("a"), Sampling(temperature=0.5))}
    assert len(keys) == 4


def pipeline_client(predicts_by_prompt):
    """Profiles say Paris passes and Lyon fails; the rubric's self-check predicts per instruction."""
    def script(conv):
        text = conv[-1]["content"]
        if text.startswith("You audit ONE response"):
            response = text.split("Response:\n")[-1]
            return json.dumps(PROFILE_OK if "Paris" in response else PROFILE_FAIL)
        if text.startswith("Two responses"):
            assert "chosen" not in text.lower() and "rejected" not in text.lower()  # labels redacted
            a_block = text.split("Findings for response A:")[1].split("Findings for response B:")[0]
            good = "A" if "states the capital" in a_block else "B"
            instruction = text.split("Instruction:\n")[1].split("\n")[0]
            return json.dumps(rubric_json(good if predicts_by_prompt.get(instruction, True) else "tie"))
        if "Rubric:" in text:
            a = text.split("Response A:\n")[1].split("Response B:")[0]
            return "R1 checked.\n--- Final Judgment ---\nWinner: " + ("A" if "Paris" in a else "B")
        raise AssertionError(text[:80])
    return Scripted(script)


PAIRS = [Pair("Name the capital of France.", "Paris", "Lyon"), Pair("Name the capital of France.", "Paris.", "Lyon."),
         Pair("What is France's capital?", "It is Paris", "It is Lyon")]


def test_pipeline_profile_synthesize_filter_sft():
    client = pipeline_client({"What is France's capital?": False})
    items = order_pairs(PAIRS, seed=1)
    s1, s2 = profile(client, items), synthesize(client, items)
    assert (s1.requests, s1.failed, s2.requests, s2.failed) == (6, 0, 3, 0)
    assert all(s.rubric.pair_consistency_check.rubric_predicts in (s.gold, "tie") for s in items)
    kept, counts = filter_rubrics(items, "self_check")
    assert [s.pair for s in kept] == PAIRS[:2] and counts["filter/inconsistent"] == 1
    assert counts["filter/drop_rate"] == pytest.approx(1 / 3)
    kept_j, counts_j = filter_rubrics(items, "rejudge", judge=client)
    assert len(kept_j) == 3 and counts_j["filter/inconsistent"] == 0
    rows = sft_rows(kept)
    assert len(rows) == 2 and json.loads(rows[0]["completion"])["hard_rules"][0]["rule_id"] == "R1"
    assert "pair_consistency_check" not in rows[0]["completion"]
    assert rows[0]["prompt"].count("Response A:") == 1


def test_instruction_level_drop():
    client = pipeline_client({"Name the capital of France.": False})
    items = order_pairs(PAIRS, seed=0)
    profile(client, items)
    synthesize(client, items)
    items[0].rubric.pair_consistency_check.rubric_predicts = items[0].gold  # one of the two pairs is consistent
    kept, _ = filter_rubrics(items, "self_check", instruction_level=True)
    assert [s.pair for s in kept] == [PAIRS[2]]
    kept_pairwise, _ = filter_rubrics(items, "self_check", instruction_level=False)
    assert len(kept_pairwise) == 2


def test_evaluate_direct_judge_with_position_bias_and_swap():
    always_a = Scripted(lambda c: "Winner: A")
    pairs = PAIRS * 4
    ev = evaluate(always_a, pairs, "direct", seed=0)
    _, gold = place(pairs, 0)
    assert ev.correct == gold.count("A") and ev.judge_stats.failed == 0
    swapped = evaluate(always_a, pairs, "direct", seed=0, swap=True)
    assert swap_consistency(ev.winners, swapped.winners) == Rate(0, 12)
    mute = evaluate(Scripted(lambda c: "no verdict"), pairs, "direct", seed=0)
    assert (mute.correct, mute.judge_stats.failed) == (0, 12)


def test_swap_consistency_arithmetic():
    original = ["A", "B", "A", None, "B"]
    swapped = ["B", "A", "A", "B", "B"]
    r = swap_consistency(original, swapped)  # consistent: pairs 0 and 1 only
    assert (r.count, r.total, r.rate) == (2, 5, 0.4)
    assert flip_rate(["A", "A", "B"], ["A", "B", "A"]) == Rate(2, 3)
    with pytest.raises(ValueError):
        swap_consistency(["A"], [])


def test_adversarial_pairs():
    p = [Pair("q", "short right.", "wrong. also wrong")]
    longer = length_adversarial(p)[0]
    assert len(longer.rejected) > len(p[0].rejected) and longer.chosen == p[0].chosen
    dressed = format_adversarial(p)[0]
    assert dressed.rejected.startswith("## ") and "- also wrong" in dressed.rejected
    assert dressed.chosen == "short right."


def test_cdrrm_and_one_step_modes_write_rubrics_then_judge():
    def script(conv):
        text = conv[-1]["content"]
        if text.startswith("Read the instruction"):
            return json.dumps(rubric_json("A"))
        a = text.split("Response A:\n")[1].split("Response B:")[0]
        assert "Rubric:" in text and "[R1] MUST" in text
        return "Winner: " + ("A" if "Paris" in a else "B")

    for mode in ("cdrrm", "one_step"):
        ev = evaluate(Scripted(script), PAIRS, mode, seed=3)
        assert ev.accuracy == 1.0 and ev.rubric_stats.failed == 0


def test_generator_sft_rows_train_with_the_sft_trainer(tiny_policy):
    from credo.config import SFTConfig
    from credo.judge.pipeline import generator_examples
    from credo.sft.trainer import sft_train

    model, tok = tiny_policy
    items = order_pairs(PAIRS, seed=1)
    client = pipeline_client({})
    profile(client, items)
    synthesize(client, items)
    rows = sft_rows(filter_rubrics(items)[0])
    examples = generator_examples(tok, rows)
    assert len(examples) == 3 and all(len(a) > 10 for _, a in examples)
    metrics = sft_train(model, tok.pad_token_id, examples, SFTConfig(steps=12, batch_size=3, lr=1e-2))
    assert metrics["sft/loss_last"] < 0.7 * metrics["sft/loss_first"]
