import pytest

from credo.rm import PairsError, PreferencePair, read_pairs, write_pairs


def test_round_trip_and_errors_name_the_line(tmp_path):
    p = write_pairs(tmp_path / "p.jsonl", [PreferencePair("q", "a", "b"), PreferencePair("q2", "c", "d", "gold")])
    assert read_pairs(p) == [PreferencePair("q", "a", "b", ""), PreferencePair("q2", "c", "d", "gold")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": 3, "rejected": "b"}\n')
    with pytest.raises(PairsError, match=r"bad.jsonl:2: field 'chosen'"):
        read_pairs(bad)
    with pytest.raises(PairsError, match="not found"):
        read_pairs(tmp_path / "missing.jsonl")
