"""Malformed inputs through the CLI: exit status 2, one line on stderr naming the key/file/line, no traceback, no
model loaded, and the files of the run folder untouched."""

import json
from pathlib import Path

import pytest

from credo.cli import main
from credo.train.state import save_state

RUN = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
       "task.size=32", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
       "eval.size=4", "log.tensorboard=false", "log.progress=false"]


def beir(root: Path, corpus=None, queries=None, qrels=None) -> Path:
    """A valid BEIR folder (2 documents, 1 query, split test), with any file replaced by raw text or bytes."""
    root.mkdir(parents=True)
    (root / "qrels").mkdir()
    files = {
        "corpus.jsonl": corpus if corpus is not None else
        '{"_id": "d1", "title": "A", "text": "Alpha method."}\n{"_id": "d2", "title": "B", "text": "Beta result."}\n',
        "queries.jsonl": queries if queries is not None else '{"_id": "q1", "text": "which method?"}\n',
        "qrels/test.tsv": qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
    }
    for name, content in files.items():
        if content is False:
            continue
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def recipe(tmp: Path, text: bytes | str) -> str:
    p = tmp / "recipe.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


def jsonl(tmp: Path, data: bytes | str) -> str:
    p = tmp / "task.jsonl"
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(p)


def old_checkpoint(tmp: Path) -> str:
    run = tmp / "old"
    (run / "checkpoints" / "step_000002").mkdir(parents=True)
    (run / "checkpoints" / "step_000002" / "trainer.pt").write_bytes(b"\x80\x04K\x01.")
    return str(run)


def torn_state(tmp: Path, which: str) -> str:
    import torch

    run = tmp / "torn"
    d = save_state(run / "checkpoints" / "step_000002" / "trainer", {"w": [1.0] * 50, "t": torch.ones(64)})
    f = d / which
    f.write_bytes(f.read_bytes()[:20])
    return str(run)


def index_dir(tmp: Path) -> str:
    import numpy as np

    from credo.retrieval.index import FacetIndex

    return str(FacetIndex(np.ones((2, 8), dtype=np.float32), ["d1", "d2"], ["background"]).save(tmp / "ix"))


T = ["train", "grpo", *RUN]
# (argv, setup(tmp) -> placeholder values, expected text in the message); {run} = a folder holding an earlier run
CASES = [
    (T + ["sampling.temperature=0"], "sampling.temperature: 0.0; must be > 0"),
    (T + ["sampling.temperature=-1"], "sampling.temperature: -1.0"),
    (T + ["sampling.temperature=.nan"], "sampling.temperature: nan"),
    (T + ["sampling.top_p=0"], "sampling.top_p: 0.0; must be in (0, 1]"),
    (T + ["sampling.top_p=1.5"], "sampling.top_p: 1.5"),
    (T + ["sampling.top_k=-1"], "sampling.top_k: -1; must be >= 0"),
    (T + ["sampling.n=1"], "sampling.n: 1; must be >= 2"),
    (T + ["sampling.max_new_tokens=0"], "sampling.max_new_tokens: 0; must be >= 1"),
    (T + ["train.steps=-3"], "train.steps: -3; must be >= 0"),
    (T + ["train.micro_batch_size=-4"], "train.micro_batch_size: -4"),
    (T + ["train.lr=-1e-4"], "train.lr: -0.0001; must be > 0"),
    (T + ["train.prompts_per_step=0"], "train.prompts_per_step: 0"),
    (T + ["train.mini_batches=0"], "train.mini_batches: 0"),
    (T + ["train.betas=[0.9]"], "train.betas: [0.9]; two numbers in [0, 1)"),
    (T + ["algo.eps_low=-0.1"], "algo.eps_low: -0.1"),
    (T + ["algo.eps_high=-0.2"], "algo.eps_high: -0.2"),
    (T + ["algo.kl_coef=-0.1"], "algo.kl_coef: -0.1; must be >= 0"),
    (T + ["algo.dual_clip=0.5"], "algo.dual_clip: 0.5; 0 (off) or > 1"),
    (T + ["eval.size=500"], "eval.size: 500; must be <= task.eval_size=8"),
    (T + ["algo.advantage=ppo"], "algo.advantage: 'ppo'; one of ['dr_grpo', 'grpo', 'rloo']"),
    (T + ["algo.baseline=mode"], "algo.baseline: 'mode'; one of"),
    (T + ["algo.policy_loss=reinforce"], "algo.policy_loss: 'reinforce'; one of ['gspo', 'gspo_token', 'ppo_clip']"),
    (T + ["algo.loss_agg=sum"], "algo.loss_agg: 'sum'; one of"),
    (T + ["algo.seq_ratio_estimator=max"], "algo.seq_ratio_estimator: 'max'"),
    (T + ["reward.noise_kind=gauss"], "reward.noise_kind: 'gauss'; one of ['pareto', 'student_t']"),
    (T + ["reward.noise_p=1.5"], "reward.noise_p: 1.5; must be in [0, 1]"),
    (T + ["task.kind=hub"], "task.kind: 'hub'; one of"),
    (T + ["model.tokenizer=bpe"], "model.tokenizer: 'bpe'; one of ['char', 'pair']"),
    (T + ["model.dtype=float8"], "model.dtype: 'float8'"),
    (T + ["model.attn_implementation=flash"], "model.attn_implementation: 'flash'; one of ['eager', "),
    (T + ["model.lora.r=-1"], "model.lora.r: -1"),
    (T + ["model.lora.dropout=1.0"], "model.lora.dropout: 1.0; must be in [0, 1)"),
    (T + ["train.device=gpu"], "train.device: 'gpu'; auto | cpu | cuda | cuda:N | mps"),
    (T + ["train.device=cuda:64"], "train.device: 'cuda:64'; "),  # no machine here has 65 GPUs (or CUDA at all)
    (T + ["train.mixed_precision=fp8"], "train.mixed_precision: 'fp8'; one of ['bf16', 'fp16', 'no']"),
    (T + ["train.lr_schedule=step"], "train.lr_schedule: 'step'"),
    (T + ["multi.workflow=chain"], "multi.workflow: 'chain'; one of"),
    (T + ["multi.schedule=random"], "multi.schedule: 'random'; one of ['alternating', 'simultaneous']"),
    (["train", "ccpo_think_reason", *RUN, "multi.credit=v9"], "multi.credit: 'v9'; one of"),
    (["train", "ccpo_voting", *RUN, "multi.tie_rule=first"], "multi.tie_rule: 'first'; one of ['none', 'random']"),
    (["train", "hacpo", *RUN, "hacpo.arm=best"], "hacpo.arm: 'best'; one of ['gspo', 'hacpo', 'naive']"),
    (["train", "hacpo", *RUN, "hacpo.stat=median"], "hacpo.stat: 'median'"),
    (T + ["multi.workflow=think_reason", "multi.agents=[{name: a}]"], "needs 2 agents"),
    (T + ["multi.workflow=voting", "multi.agents=[{name: a, sampling: {temperature: 0}}, {name: b}]"],
     "multi.agents[0].sampling.temperature: 0"),
    (T + ["algo.eps_hgh=0.3"], "did you mean 'algo.eps_high'"),
    (T + ["sampling.n=abc"], "sampling.n expects int"),
    (T + ["sampling.stop=[unclosed"], "sampling.stop: '[unclosed' is not a valid YAML value"),
    (T + ["oops"], "expected key=value"),
    (["train", "no_such_recipe"], "recipe 'no_such_recipe' not found"),
    (["train"], "the following arguments are required: recipe"),
    (["train", "{recipe_dup}"], "duplicate key 'steps' (first given on line 2)"),
    (["train", "{recipe_latin1}"], "recipe.yaml:2: not UTF-8 text"),
    (["train", "{recipe_syntax}"], "recipe.yaml:3: not valid YAML"),
    (["train", "{recipe_list}"], "a recipe is a mapping of sections"),
    (T + ["task.kind=math_file", "task.path={jsonl_latin1}", "--overwrite"], "task.jsonl:2: not UTF-8 text"),
    (T + ["task.kind=math_file", "task.path={jsonl_long}", "--overwrite"], "task.jsonl:2: line longer than 4096"),
    (T + ["task.kind=math_file", "task.path={jsonl_bad}", "--overwrite"], "task.jsonl:1: invalid JSON"),
    (T + ["task.kind=math_file", "task.path={jsonl_deep}", "--overwrite"], "task.jsonl:1: JSON nested too deeply"),
    (T + ["task.kind=callable", "task.name=no_such_module:rows", "--overwrite"], "cannot import module"),
    (T + ["task.kind=callable", "task.name=rows", "--overwrite"], "must be an import path"),
    (T, "already holds a run (config.yaml, metrics.jsonl, notes.txt); continue it with --resume"),
    (T + ["--resume"], "--resume: no checkpoint in"),
    (T + ["--resume", "--overwrite"], "exclude each other"),
    (T + ["log.output_dir={file}"], "is a file, not a directory"),
    (T + ["--resume", "log.output_dir={old}"], "trainer.pt: checkpoint of an older credo version"),
    (T + ["--resume", "log.output_dir={torn_json}"], "state.json: truncated"),
    (T + ["--resume", "log.output_dir={torn_tensors}"], "state.safetensors: truncated"),
    (["sft", "grpo", *RUN, "sft.lr=0"], "sft.lr: 0.0; must be > 0"),
    (["sft", "grpo", *RUN], "already holds a run"),
    (["demo", *RUN, "sampling.top_p=2"], "sampling.top_p: 2.0"),
    (["retrieve", "train", "unifar", "model.gate=sometimes"], "model.gate: 'sometimes'; one of ['adaptive', 'fixed']"),
    (["retrieve", "train", "unifar", "train.temperature=0"], "train.temperature: 0.0; must be > 0"),
    (["retrieve", "train", "unifar", "data.qd=web"],
     "data.qd: 'web'; synthetic | synthetic_cued | pubmedqa | beir:DIR | none"),
    (["retrieve", "train", "unifar", "model.facets=[]"], "model.facets: []"),
    (["retrieve", "train", "unifar", "train.device=tpu"], "train.device: 'tpu'; auto | cpu"),
    (["retrieve", "train", "unifar"], "already holds a run"),
    (["retrieve", "eval", "--bm25", "--beir", "{tmp}/nowhere"], "BEIR folder not found"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_nocorpus}"], "missing corpus file"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_dup}"], "corpus.jsonl:2: duplicate document id 'd1'"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_empty}"], "corpus.jsonl:2: document 'd2' is empty"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_unknown}"], "names unknown document 'd9'"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_badq}"], "queries.jsonl:1: invalid JSON"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_score}"], "test.tsv:2: score 'high' is not an integer"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_latin1}"], "corpus.jsonl:1: not UTF-8 text"),
    (["retrieve", "eval", "--bm25", "--beir", "{beir_ok}", "--split", "dev"], "no qrels split 'dev'"),
    (["retrieve", "eval", "--beir", "{beir_ok}"], "eval needs --model or --bm25"),
    (["retrieve", "search", "q", "--model", "minilm", "--index", "{tmp}/noindex"], "no index.json"),
    (["retrieve", "search", "q", "--model", "{tmp}/nomodel", "--index", "{index}"], "not a UniFAR checkpoint"),
]


@pytest.fixture()
def places(tmp_path, monkeypatch):
    import credo.jsonl

    monkeypatch.setattr(credo.jsonl, "MAX_LINE_BYTES", 4096)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    latin1 = "train:\n  steps: 3 # caf\xe9\n".encode("latin-1")
    good = '{"question": "1+1", "answer": "2"}\n'
    return {
        "tmp": str(tmp_path),
        "file": str(tmp_path / "file"),
        "recipe_dup": lambda t: recipe(t, "train:\n  steps: 3\n  steps: 4\n"),
        "recipe_latin1": lambda t: recipe(t, latin1),
        "recipe_syntax": lambda t: recipe(t, "train:\n  steps: [3\n"),
        "recipe_list": lambda t: recipe(t, "- a\n- b\n"),
        "jsonl_latin1": lambda t: jsonl(t, good.encode() + b'{"question": "caf\xe9", "answer": "1"}\n'),
        "jsonl_long": lambda t: jsonl(t, good + json.dumps({"question": "x" * 9000, "answer": "1"}) + "\n"),
        "jsonl_bad": lambda t: jsonl(t, '{"question": "1+1", "answer": \n'),
        "jsonl_deep": lambda t: jsonl(t, "[" * 1900 + "]" * 1900 + "\n"),
        "old": old_checkpoint,
        "torn_json": lambda t: torn_state(t, "state.json"),
        "torn_tensors": lambda t: torn_state(t, "state.safetensors"),
        "beir_ok": lambda t: str(beir(t / "b")),
        "beir_nocorpus": lambda t: str(beir(t / "b", corpus=False)),
        "beir_dup": lambda t: str(beir(t / "b", corpus='{"_id": "d1", "text": "A."}\n{"_id": "d1", "text": "B."}\n')),
        "beir_empty": lambda t: str(beir(t / "b", corpus='{"_id": "d1", "text": "A."}\n{"_id": "d2", "text": " "}\n')),
        "beir_unknown": lambda t: str(beir(t / "b", qrels="q1\td9\t1\n")),
        "beir_badq": lambda t: str(beir(t / "b", queries='{"_id": "q1", "text": \n')),
        "beir_score": lambda t: str(beir(t / "b", qrels="query-id\tcorpus-id\tscore\nq1\td1\thigh\n")),
        "beir_latin1": lambda t: str(beir(t / "b", corpus=b'{"_id": "d1", "text": "caf\xe9."}\n')),
        "index": index_dir,
    }


def fill(arg: str, places: dict, tmp: Path) -> str:
    for key, value in places.items():
        if "{" + key + "}" in arg:
            arg = arg.replace("{" + key + "}", value(tmp) if callable(value) else value)
    return arg


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def no_models(monkeypatch):
    """Any model load fails the test: every case must be rejected before one."""
    import credo.agents
    import credo.models
    import credo.retrieval.model
    import credo.train.rl

    def boom(*a, **k):
        raise AssertionError("a model was loaded")

    for mod in (credo.models, credo.train.rl, credo.agents):
        monkeypatch.setattr(mod, "load_policy", boom)
    monkeypatch.setattr(credo.retrieval.model.UniFAR, "from_encoder", classmethod(boom))
    monkeypatch.setattr(credo.retrieval.model.UniFAR, "load", classmethod(boom))


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_malformed_input_is_one_line_and_exit_2(argv, expected, tmp_path, places, no_models, capsys):
    run = tmp_path / "run"  # a folder holding an earlier run, which no case may change
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 0, "eval/accuracy": 0.5}\n')
    (run / "config.yaml").write_text("train:\n  steps: 1\n")
    (run / "notes.txt").write_text("keep me")
    before = snapshot(run)
    argv = [fill(a, places, tmp_path) for a in argv]
    trains = argv[0] in ("train", "sft", "demo") or argv[:2] == ["retrieve", "train"]
    if trains and len(argv) > 1 and not any(a.startswith("log.output_dir=") for a in argv):
        # task data errors (--overwrite) get a fresh folder of their own
        argv.append(f"log.output_dir={tmp_path / 'fresh' if '--overwrite' in argv else run}")
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("credo: error: ") and "Traceback" not in err
    assert expected in err, err
    assert snapshot(run) == before
