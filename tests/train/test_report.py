import base64
import json
import re

import pytest

from credo.train.report import _series, write_report

N_STEPS = 12


def _write_rows(run_dir, rows, tail=""):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def _train_row(s, entropy=True, timing=True):
    row = {"step": s, "reward/mean": 0.1 * s, "reward/score_mean": 0.05 * s, "response/length_mean": 100.0 + s,
           "actor/clipfrac": 0.01, "actor/clipfrac_low": 0.004, "actor/clipfrac_high": 0.006,
           "actor/kl": 0.001 * s, "actor/ppo_kl": 0.0005 * s}
    if entropy:
        row["actor/entropy"] = 2.0 - 0.05 * s
    if timing:
        row |= {"timing/generate": 1.5, "timing/train": 0.5, "timing/step": 2.25,
                "perf/tokens_per_s": 1000.0 + s, "perf/generated_tokens": 5000.0}
    return row


def _full_rows():
    # step 0 as the trainer logs it: pre-training eval + SFT warm-start summary, not a training step
    rows = [{"step": 0, "eval/accuracy": 0.125, "eval/pass@4": 0.25, "sft/loss_first": 2.5, "sft/loss_last": 0.75}]
    for s in range(1, N_STEPS + 1):
        row = _train_row(s)
        row["agent:solver/reward/mean"] = 0.2 * s
        row["agent:critic/reward/mean"] = None  # non-finite value logged as null
        rows.append(row)
        if s in (6, 12):  # sparse eval rows share the step of a training row
            acc = {6: 0.625, 12: 0.5}[s]
            rows.append({"step": s, "eval/accuracy": acc, "eval/pass@4": acc + 0.1, "eval/pass@16": acc + 0.2,
                         "eval/length_mean": 80.0})
    return rows


def _images(page):
    return re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def _assert_self_contained(page):
    without_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert "http" not in without_data.lower()
    assert not re.search(r"""(src|href)\s*=\s*(?!["']?data:image/png;base64,)""", page)
    assert "@import" not in page and "url(" not in page


def test_report_full_run(tmp_path):
    run = tmp_path / "run-a"
    _write_rows(run, _full_rows())
    (run / "config.yaml").write_text("model:\n  path: embedded  # <tiny> & fast\n")
    out = write_report(run, title="My <run>")
    assert out == run / "report.html" and out.exists()
    page = out.read_text()
    # reward, accuracy, length, entropy, clipfrac, KL, timing, throughput, perf counters, agent solver,
    # agent critic ("not logged")
    images = _images(page)
    assert len(images) == 10
    assert page.count('class="panel"') == 11
    assert page.count("not logged (agent:critic/reward/mean") == 1
    for b64 in images:
        png = base64.b64decode(b64)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"http" not in png  # no matplotlib URL in metadata
    assert 'alt="Held-out accuracy: eval/accuracy, eval/pass@4, eval/pass@16"' in page  # pass@k sorted by k
    assert 'alt="Step time split: generate, train, other"' in page  # timing/step is the total, not a phase
    _assert_self_contained(page)
    for title in ["Reward", "Held-out accuracy", "Response length", "Entropy", "Clip fraction", "KL",
                  "Step time split", "Throughput", "Perf counters", "Agent solver: reward"]:
        assert f"<h3>{title}</h3><img" in page, title
    assert "<title>My &lt;run&gt;</title>" in page
    assert "# &lt;tiny&gt; &amp; fast" in page and "<details><summary>config.yaml</summary>" in page
    summary = page.split("<h2>Summary</h2>")[1].split("</table>")[0]
    assert "Held-out accuracy (first)</th><td class=\"num\">0.1250<" in summary
    assert "Held-out accuracy (last)</th><td class=\"num\">0.5000<" in summary
    assert "0.6250 (step 6)" in summary
    assert f"{N_STEPS} (last step {N_STEPS})" in summary  # eval rows are not counted as extra steps
    assert "27.0 s (0h 00m 27s)" in summary  # 12 steps x timing/step 2.25
    assert "1.2000" in summary  # last reward/mean
    assert "2.5000 → 0.7500" in summary  # SFT warm start


def test_report_missing_metrics_says_not_logged(tmp_path):
    run = tmp_path / "run-b"
    _write_rows(run, [_train_row(s, entropy=False, timing=False) for s in range(1, 5)])
    page = write_report(run).read_text()
    assert len(_images(page)) == 4  # reward, length, clipfrac, KL
    assert "<h3>Entropy</h3><p class=\"na\">not logged" in page
    assert "<h3>Held-out accuracy</h3><p class=\"na\">not logged" in page
    assert "<h3>Step time split</h3><p class=\"na\">not logged" in page
    assert "Throughput" not in page and "SFT" not in page  # optional panels only when their keys exist
    assert "not logged: eval/length_mean" in page  # partially present panel names the missing key
    assert "<title>run-b</title>" in page
    assert "config.yaml" not in page
    _assert_self_contained(page)


def test_report_phase_sum_when_no_step_timer_and_truncated_tail(tmp_path):
    run = tmp_path / "run-c"
    rows = [{"step": s, "timing/generate": 1.0, "timing/train": 0.5} for s in range(1, 3)]
    _write_rows(run, rows, tail='{"step": 3, "timing/gen')
    with pytest.warns(UserWarning, match="corrupt final line"):
        page = write_report(run).read_text()
    assert "3.0 s (0h 00m 03s)" in page
    assert len(_images(page)) == 1  # only the timing panel


def test_report_empty_metrics(tmp_path):
    _write_rows(tmp_path, [])
    page = write_report(tmp_path).read_text()
    assert len(_images(page)) == 0 and page.count("not logged") >= 7


def test_series_keeps_only_rows_with_the_key():
    rows = [{"step": 1, "a": 1.0}, {"step": 1, "b": 5}, {"step": 2, "a": None}, {"step": 3, "a": 3}]
    assert _series(rows, "a") == ([1, 3], [1.0, 3.0])
    assert _series(rows, "missing") == ([], [])


def test_report_long_run_uses_stacked_area(tmp_path):
    rows = [{"step": s, "timing/generate": 1.0, "timing/train": 0.5, "timing/step": 2.0} for s in range(1, 302)]
    rows.insert(100, {"step": 100, "eval/accuracy": 0.5})  # an eval row mid-run has no timing and is skipped
    _write_rows(tmp_path, rows)
    page = write_report(tmp_path).read_text()
    assert len(_images(page)) == 2  # accuracy + timing
    assert "602.0 s (0h 10m 02s)" in page and "301 (last step 301)" in page


def test_report_sft_only_run(tmp_path):
    _write_rows(tmp_path, [{"step": s, "sft/loss": 3.0 / s, "sft/lr": 1e-4} for s in range(1, 6)])
    page = write_report(tmp_path).read_text()
    assert len(_images(page)) == 1 and "<h3>SFT loss</h3><img" in page
    assert "Training steps</th><td class=\"num\">0<" in page
